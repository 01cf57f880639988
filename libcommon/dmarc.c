/*
 * dmarc.c - DMARC evaluation (see dmarc.h): record parsing, the DMARCbis
 * tree walk for the policy and the organizational domain, alignment, and
 * the From domain of a message.
 *
 * Owns: a per-call cache of _dmarc lookups (dmarc_walk, on the stack).
 * SECURITY: DNS records and the From field are untrusted: records are
 * parsed with bounded tag handling, the walk makes at most
 * DMARC_MAX_QUERIES queries per name, and From parsing is a bounded scan.
 * STANDARDS: RFC 7489 §3.1, §6.3, §6.6; DMARCbis §4.7-4.10 (tree walk,
 * psd=, np=, pct= removed).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dmarc.h"
#include "xalloc.h"

#define DMARC_CACHE 24

typedef struct dmarc_cached {
    char         name[256];
    int          status;       /* 1 found, 0 none, -1 tempfail */
    dmarc_record rec;
} dmarc_cached;

typedef struct dmarc_walk {
    dns_resolver *dns;
    dmarc_cached  c[DMARC_CACHE];
    size_t        n;
} dmarc_walk;

static int  dmarc_lookup(dmarc_walk *w, const char *domain, dmarc_record *rec);
static size_t dmarc_targets(const char *name, const char **out);
static size_t dmarc_labels(const char *name);
static const char *dmarc_suffix(const char *name, size_t labels);
static int  dmarc_org(dmarc_walk *w, const char *name, char *out, size_t outlen);
static int  dmarc_aligned(dmarc_walk *w, const char *org_from, const char *from,
                          const char *id, char mode, int *aligned);
static enum dmarc_policy dmarc_policy_parse(const char *v, size_t n);
static int  dmarc_nonexistent(dns_resolver *dns, const char *domain);

const char *dmarc_result_text(enum dmarc_result r)
{
    static const char *const names[] = { "none", "pass", "fail", "temperror", "permerror" };
    return (unsigned)r < 5 ? names[r] : "permerror";
}

const char *dmarc_policy_text(enum dmarc_policy p)
{
    static const char *const names[] = { "", "none", "quarantine", "reject" };
    return (unsigned)p < 4 ? names[p] : "";
}

static enum dmarc_policy dmarc_policy_parse(const char *v, size_t n)
{
    if (n == 4 && strncasecmp(v, "none", 4) == 0)
        return DMARC_P_NONE;
    if (n == 10 && strncasecmp(v, "quarantine", 10) == 0)
        return DMARC_P_QUARANTINE;
    if (n == 6 && strncasecmp(v, "reject", 6) == 0)
        return DMARC_P_REJECT;
    return DMARC_P_UNSET;
}

int dmarc_record_parse(const char *text, size_t len, dmarc_record *out)
{
    size_t i = 0, ntag = 0;

    memset(out, 0, sizeof(*out));
    out->adkim = out->aspf = 'r';
    out->psd = 'u';
    if (memchr(text, '\0', len) != NULL)
        return -1;
    while (i < len && ntag < 64) {
        size_t s = i, e, eq;
        while (i < len && text[i] != ';')
            i++;
        e = i++;
        while (s < e && (text[s] == ' ' || text[s] == '\t'))
            s++;
        while (e > s && (text[e - 1] == ' ' || text[e - 1] == '\t'))
            e--;
        if (s == e)
            continue;
        for (eq = s; eq < e && text[eq] != '='; eq++)
            ;
        if (eq == e)
            return -1;
        size_t ne = eq, vs = eq + 1;
        while (ne > s && (text[ne - 1] == ' ' || text[ne - 1] == '\t'))
            ne--;
        while (vs < e && (text[vs] == ' ' || text[vs] == '\t'))
            vs++;
        const char *name = text + s, *v = text + vs;
        size_t nl = ne - s, vl = e - vs;
        if (ntag++ == 0) {
            if (!(nl == 1 && name[0] == 'v' && vl == 6 && strncmp(v, "DMARC1", 6) == 0))
                return -1;
            continue;
        }
        if (nl == 1 && name[0] == 'p')
            out->p = dmarc_policy_parse(v, vl);
        else if (nl == 2 && strncmp(name, "sp", 2) == 0)
            out->sp = dmarc_policy_parse(v, vl);
        else if (nl == 2 && strncmp(name, "np", 2) == 0)
            out->np = dmarc_policy_parse(v, vl);
        else if (nl == 5 && strncmp(name, "adkim", 5) == 0) {
            if (vl == 1 && (v[0] == 's' || v[0] == 'r'))
                out->adkim = v[0];
        } else if (nl == 4 && strncmp(name, "aspf", 4) == 0) {
            if (vl == 1 && (v[0] == 's' || v[0] == 'r'))
                out->aspf = v[0];
        } else if (nl == 3 && strncmp(name, "psd", 3) == 0) {
            if (vl == 1 && (v[0] == 'y' || v[0] == 'n' || v[0] == 'u'))
                out->psd = v[0];
        }
        /* pct, rua, ruf, fo, rf, ri, t and unknown tags: ignored */
    }
    if (ntag == 0)
        return -1;
    if (out->p == DMARC_P_UNSET)
        out->p = DMARC_P_NONE;
    return 0;
}

static size_t dmarc_labels(const char *name)
{
    size_t n = 1;
    for (const char *p = name; *p; p++)
        if (*p == '.')
            n++;
    return n;
}

/* The right-most `labels` labels of name. */
static const char *dmarc_suffix(const char *name, size_t labels)
{
    size_t have = dmarc_labels(name);
    const char *p = name;
    while (have > labels) {
        p = strchr(p, '.') + 1;
        have--;
    }
    return p;
}

/* The names the walk queries, longest first (at most DMARC_MAX_QUERIES). */
static size_t dmarc_targets(const char *name, const char **out)
{
    size_t labels = dmarc_labels(name), n = 0;

    out[n++] = name;
    size_t next = labels >= 8 ? 7 : labels - 1;
    for (size_t l = next; l >= 1 && n < DMARC_MAX_QUERIES; l--)
        out[n++] = dmarc_suffix(name, l);
    return n;
}

/* 1 with *rec filled when _dmarc.domain has exactly one valid record, 0
 * when none, -1 on a temporary DNS failure. Cached per walk. */
static int dmarc_lookup(dmarc_walk *w, const char *domain, dmarc_record *rec)
{
    char qname[300];
    dns_answer a;
    int found = 0;
    dmarc_record r, one;

    for (size_t k = 0; k < w->n; k++)
        if (strcasecmp(w->c[k].name, domain) == 0) {
            *rec = w->c[k].rec;
            return w->c[k].status;
        }
    memset(&one, 0, sizeof(one));
    snprintf(qname, sizeof(qname), "_dmarc.%s", domain);
    (void)dns_query(w->dns, qname, DNS_T_TXT, &a);
    if (a.status == DNS_TEMPFAIL) {
        dns_answer_release(&a);
        return -1;
    }
    for (size_t k = 0; k < a.n; k++)
        if (dmarc_record_parse(a.rrs[k].text, a.rrs[k].len, &r) == 0) {
            found++;
            one = r;
        }
    dns_answer_release(&a);
    /* several records: as if there were none */
    int status = found == 1 ? 1 : 0;
    if (w->n < DMARC_CACHE) {
        (void)str_copy(w->c[w->n].name, sizeof(w->c[w->n].name), domain);
        w->c[w->n].status = status;
        w->c[w->n].rec = one;
        w->n++;
    }
    *rec = one;
    return status;
}

static int dmarc_org(dmarc_walk *w, const char *name, char *out, size_t outlen)
{
    const char *t[DMARC_MAX_QUERIES], *shortest = NULL;
    size_t n = dmarc_targets(name, t);
    dmarc_record rec;

    for (size_t i = 0; i < n; i++) {
        int st = dmarc_lookup(w, t[i], &rec);
        if (st < 0)
            return -1;
        if (st == 0)
            continue;
        if (rec.psd == 'n') {
            (void)str_copy(out, outlen, t[i]);
            return 0;
        }
        if (rec.psd == 'y' && i > 0) {
            (void)str_copy(out, outlen, dmarc_suffix(name, dmarc_labels(t[i]) + 1));
            return 0;
        }
        shortest = t[i];
    }
    (void)str_copy(out, outlen, shortest ? shortest : name);
    return 0;
}

int dmarc_org_domain(dns_resolver *dns, const char *name, char *out, size_t outlen)
{
    dmarc_walk w = { .dns = dns };
    char norm[256];
    size_t l = strlen(name);

    if (l == 0 || l >= sizeof(norm))
        return -1;
    for (size_t k = 0; k <= l; k++)
        norm[k] = (char)tolower((unsigned char)name[k]);
    if (l > 1 && norm[l - 1] == '.')
        norm[l - 1] = '\0';
    return dmarc_org(&w, norm, out, outlen);
}

/* -1 on tempfail, else 0 with *aligned set. */
static int dmarc_aligned(dmarc_walk *w, const char *org_from, const char *from,
                         const char *id, char mode, int *aligned)
{
    char idn[256], org_id[256];
    size_t il, ol = strlen(org_from);

    *aligned = 0;
    if (id == NULL || id[0] == '\0')
        return 0;
    il = strlen(id);
    if (il >= sizeof(idn))
        return 0;
    for (size_t k = 0; k <= il; k++)
        idn[k] = (char)tolower((unsigned char)id[k]);
    if (il > 1 && idn[il - 1] == '.')
        idn[--il] = '\0';
    if (strcmp(idn, from) == 0) {
        *aligned = 1;
        return 0;
    }
    if (mode == 's')
        return 0;
    /* relaxed: same organizational domain; both must be at or under it */
    if (!(strcmp(idn, org_from) == 0 ||
          (il > ol && idn[il - ol - 1] == '.' && strcmp(idn + il - ol, org_from) == 0)))
        return 0;
    if (dmarc_org(w, idn, org_id, sizeof(org_id)) != 0)
        return -1;
    *aligned = strcmp(org_id, org_from) == 0;
    return 0;
}

/* 1 when the domain has no A, AAAA or MX and NXDOMAIN (DMARCbis np=). */
static int dmarc_nonexistent(dns_resolver *dns, const char *domain)
{
    static const enum dns_type types[] = { DNS_T_A, DNS_T_AAAA, DNS_T_MX };
    for (size_t k = 0; k < 3; k++) {
        dns_answer a;
        (void)dns_query(dns, domain, types[k], &a);
        int nx = a.status == DNS_NXDOMAIN;
        dns_answer_release(&a);
        if (!nx)
            return 0;
    }
    return 1;
}

int dmarc_check(dns_resolver *dns, const char *from_domain, const dmarc_ident *spf,
                const dmarc_ident *dkim, size_t ndkim, dmarc_outcome *out)
{
    dmarc_walk w = { .dns = dns };
    const char *t[DMARC_MAX_QUERIES];
    size_t n, l;
    int found = 0, al;

    memset(out, 0, sizeof(*out));
    l = from_domain ? strlen(from_domain) : 0;
    if (l == 0 || l >= sizeof(out->from_domain) || strchr(from_domain, '.') == NULL ||
        from_domain[0] == '.' || strstr(from_domain, "..") != NULL) {
        out->result = DMARC_PERMERROR;
        (void)str_copy(out->reason, sizeof(out->reason), "no usable From domain");
        return 0;
    }
    for (size_t k = 0; k <= l; k++)
        out->from_domain[k] = (char)tolower((unsigned char)from_domain[k]);
    if (out->from_domain[l - 1] == '.')
        out->from_domain[l - 1] = '\0';
    n = dmarc_targets(out->from_domain, t);
    for (size_t i = 0; i < n && !found; i++) {
        int st = dmarc_lookup(&w, t[i], &out->rec);
        if (st < 0) {
            out->result = DMARC_TEMPERROR;
            snprintf(out->reason, sizeof(out->reason), "DNS failure for _dmarc.%.100s", t[i]);
            return 0;
        }
        if (st == 1) {
            found = 1;
            (void)str_copy(out->policy_domain, sizeof(out->policy_domain), t[i]);
        }
    }
    if (!found) {
        out->result = DMARC_NONE;
        (void)str_copy(out->reason, sizeof(out->reason), "no DMARC record");
        return 0;
    }
    if (dmarc_org(&w, out->from_domain, out->org_domain, sizeof(out->org_domain)) != 0) {
        out->result = DMARC_TEMPERROR;
        (void)str_copy(out->reason, sizeof(out->reason), "DNS failure in the tree walk");
        return 0;
    }
    if (strcmp(out->policy_domain, out->from_domain) == 0) {
        out->policy = out->rec.p;
    } else if (out->rec.np != DMARC_P_UNSET && dmarc_nonexistent(dns, out->from_domain)) {
        out->policy = out->rec.np;
    } else {
        out->policy = out->rec.sp != DMARC_P_UNSET ? out->rec.sp : out->rec.p;
    }
    if (spf != NULL && spf->pass) {
        if (dmarc_aligned(&w, out->org_domain, out->from_domain, spf->domain,
                          out->rec.aspf, &al) != 0)
            goto temp;
        out->spf_aligned = al;
    }
    for (size_t k = 0; k < ndkim && !out->dkim_aligned; k++) {
        if (!dkim[k].pass)
            continue;
        if (dmarc_aligned(&w, out->org_domain, out->from_domain, dkim[k].domain,
                          out->rec.adkim, &al) != 0)
            goto temp;
        out->dkim_aligned = al;
    }
    if (out->spf_aligned || out->dkim_aligned) {
        out->result = DMARC_PASS;
        snprintf(out->reason, sizeof(out->reason), "aligned %s pass",
                 out->spf_aligned && out->dkim_aligned ? "SPF and DKIM"
                 : out->spf_aligned ? "SPF" : "DKIM");
    } else {
        out->result = DMARC_FAIL;
        (void)str_copy(out->reason, sizeof(out->reason), "no aligned SPF or DKIM pass");
    }
    return 0;
temp:
    out->result = DMARC_TEMPERROR;
    (void)str_copy(out->reason, sizeof(out->reason), "DNS failure in the tree walk");
    return 0;
}

int dmarc_from_domain(const char *value, char *out, size_t outlen)
{
    char item[512], found[256] = "";
    size_t il = 0;
    int depth = 0, quoted = 0, angle = 0, count = 0;

    for (const char *p = value;; p++) {
        char c = *p;
        int end = c == '\0';
        if (!end && quoted) {
            if (c == '\\' && p[1] != '\0')
                p++;
            else if (c == '"')
                quoted = 0;
            continue;
        }
        if (!end && depth > 0) {
            if (c == '\\' && p[1] != '\0')
                p++;
            else if (c == '(')
                depth++;
            else if (c == ')')
                depth--;
            continue;
        }
        if (!end && c == '"') {
            quoted = 1;
            continue;
        }
        if (!end && c == '(') {
            depth = 1;
            continue;
        }
        if (!end && c == '<') {
            angle = 1;
            il = 0;
            continue;
        }
        if (!end && c == '>' && angle) {
            angle = 2;
            continue;
        }
        if (end || (!angle && (c == ',' || c == ';')) || (!angle && c == ':') ||
            (angle == 2 && c == ',')) {
            if (c == ':' && !end) {        /* group display name */
                il = 0;
                continue;
            }
            item[il] = '\0';
            char *at = strrchr(item, '@');
            if (at != NULL && at[1] != '\0') {
                char dom[256];
                size_t dl = 0;
                for (char *d = at + 1; *d && dl + 1 < sizeof(dom); d++)
                    if (!isspace((unsigned char)*d))
                        dom[dl++] = (char)tolower((unsigned char)*d);
                dom[dl] = '\0';
                if (dl > 0 && dom[dl - 1] == '.')
                    dom[--dl] = '\0';
                if (dl > 0) {
                    if (count > 0 && strcmp(found, dom) != 0)
                        return -2;
                    (void)str_copy(found, sizeof(found), dom);
                    count++;
                }
            }
            il = 0;
            angle = 0;
            if (end)
                break;
            continue;
        }
        if (angle == 2)
            continue;
        if (il + 1 < sizeof(item))
            item[il++] = c;
    }
    if (count == 0)
        return -1;
    return str_copy(out, outlen, found);
}
