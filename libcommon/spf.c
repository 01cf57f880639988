/*
 * spf.c - SPF evaluation (RFC 7208 §2.4, §4, §5, §6): check_host() with
 * include/redirect recursion, the mechanisms, the DNS-lookup and
 * void-lookup limits, and the exp= explanation.
 *
 * Owns: nothing beyond one evaluation's stack (spf_state).
 * SECURITY: every record and answer is untrusted; recursion is bounded by
 * the 10-lookup limit (every include/redirect counts), per-mechanism name
 * lists by 10; a DNS timeout becomes temperror.
 * STANDARDS: RFC 7208 (4.6.4 limits, 5.x mechanisms, 6.x modifiers).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "spf.h"
#include "xalloc.h"

#define SPF_MAX_LOOKUPS 10
#define SPF_MAX_VOID    2
#define SPF_MAX_NAMES   10

typedef struct spf_state {
    dns_resolver *dns;
    spf_macro_ctx mac;          /* sender, helo, ip; domain set per level */
    int           lookups;
    int           voids;
    char          reason[160];
    char          exp[256];
} spf_state;

/* internal: no match yet */
#define SPF_NOMATCH (-1)

static enum spf_result spf_check_host(spf_state *st, const char *domain, int depth, int top);
static int  spf_eval_term(spf_state *st, const spf_term *t, const char *domain, int depth);
static int  spf_count_lookup(spf_state *st);
static int  spf_note_void(spf_state *st, enum dns_status s);
static int  spf_addr_match(spf_state *st, const char *name, int cidr4, int cidr6,
                           int count_void, enum spf_result *err);
static int  spf_cidr_eq(const unsigned char *a, const unsigned char *b, int bits);
static int  spf_domain_valid(const char *d);
static enum spf_result spf_qual_result(char q);
static void spf_explain(spf_state *st, const spf_record *r, const char *domain);

const char *spf_result_text(enum spf_result r)
{
    static const char *const names[] = {
        "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror",
    };
    return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "permerror";
}

int spf_check(dns_resolver *dns, const spf_request *req, spf_outcome *out)
{
    spf_state st;
    const char *mf = req->mail_from ? req->mail_from : "";
    char mfbuf[512];
    size_t ml;

    memset(out, 0, sizeof(*out));
    memset(&st, 0, sizeof(st));
    st.dns = dns;
    out->result = SPF_NONE;
    if (dns == NULL) {
        out->result = SPF_TEMPERROR;
        (void)str_copy(out->reason, sizeof(out->reason), "no resolver");
        return -1;
    }
    /* strip <> around MAIL FROM */
    ml = strlen(mf);
    if (ml >= 2 && mf[0] == '<' && mf[ml - 1] == '>') {
        if (ml - 2 >= sizeof(mfbuf)) {
            (void)str_copy(out->reason, sizeof(out->reason), "MAIL FROM too long");
            return 0;
        }
        memcpy(mfbuf, mf + 1, ml - 2);
        mfbuf[ml - 2] = '\0';
        mf = mfbuf;
    }
    if (mf[0] != '\0') {
        const char *at = strrchr(mf, '@');
        (void)str_copy(out->identity, sizeof(out->identity), "mailfrom");
        if (at == NULL) {
            (void)str_copy(out->domain, sizeof(out->domain), mf);
            snprintf(out->sender, sizeof(out->sender), "postmaster@%.255s", mf);
        } else {
            (void)str_copy(out->domain, sizeof(out->domain), at + 1);
            if (at == mf)
                snprintf(out->sender, sizeof(out->sender), "postmaster%.256s", mf);
            else
                (void)str_copy(out->sender, sizeof(out->sender), mf);
        }
    } else {
        (void)str_copy(out->identity, sizeof(out->identity), "helo");
        (void)str_copy(out->domain, sizeof(out->domain), req->helo ? req->helo : "");
        snprintf(out->sender, sizeof(out->sender), "postmaster@%s", out->domain);
    }
    {
        /* identities are compared without case; drop a trailing dot */
        size_t dl = strlen(out->domain);
        if (dl > 0 && out->domain[dl - 1] == '.')
            out->domain[dl - 1] = '\0';
    }
    if (req->ip == NULL || req->ip[0] == '\0') {
        (void)str_copy(out->reason, sizeof(out->reason), "no client address");
        return 0;
    }
    if (inet_pton(AF_INET, req->ip, st.mac.ip) == 1) {
        st.mac.ipv6 = 0;
    } else if (inet_pton(AF_INET6, req->ip, st.mac.ip) == 1) {
        static const unsigned char mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };
        st.mac.ipv6 = 1;
        if (memcmp(st.mac.ip, mapped, 12) == 0) {
            memmove(st.mac.ip, st.mac.ip + 12, 4);
            st.mac.ipv6 = 0;
        }
    } else {
        (void)str_copy(out->reason, sizeof(out->reason), "bad client address");
        return 0;
    }
    st.mac.sender = out->sender;
    st.mac.helo = req->helo ? req->helo : "unknown";
    st.mac.receiver = req->receiver;
    st.mac.now = req->now;
    st.mac.dns = dns;
    out->result = spf_check_host(&st, out->domain, 0, 1);
    out->lookups = st.lookups;
    out->void_lookups = st.voids;
    (void)str_copy(out->reason, sizeof(out->reason), st.reason);
    if (out->result == SPF_FAIL)
        (void)str_copy(out->explanation, sizeof(out->explanation), st.exp);
    return 0;
}

static enum spf_result spf_qual_result(char q)
{
    switch (q) {
    case '-': return SPF_FAIL;
    case '~': return SPF_SOFTFAIL;
    case '?': return SPF_NEUTRAL;
    default: return SPF_PASS;
    }
}

/* multi-label, labels 1..63, total <= 253, no empty label but a final dot */
static int spf_domain_valid(const char *d)
{
    size_t n = strlen(d), label = 0;
    int dots = 0;

    if (n > 0 && d[n - 1] == '.')
        n--;
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)d[i];
        if (c == '.') {
            if (label == 0)
                return 0;
            label = 0;
            dots++;
        } else if (c <= 32 || c >= 127 || ++label > 63) {
            return 0;
        }
    }
    return label > 0 && dots > 0;
}

static int spf_count_lookup(spf_state *st)
{
    if (++st->lookups > SPF_MAX_LOOKUPS) {
        (void)str_copy(st->reason, sizeof(st->reason), "more than 10 DNS lookups");
        return -1;
    }
    return 0;
}

/* Counts a void lookup; -1 when over the limit. */
static int spf_note_void(spf_state *st, enum dns_status s)
{
    if (s != DNS_NXDOMAIN && s != DNS_NODATA)
        return 0;
    if (++st->voids > SPF_MAX_VOID) {
        (void)str_copy(st->reason, sizeof(st->reason), "more than 2 void DNS lookups");
        return -1;
    }
    return 0;
}

static int spf_cidr_eq(const unsigned char *a, const unsigned char *b, int bits)
{
    int full = bits / 8, rest = bits % 8;

    if (memcmp(a, b, (size_t)full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

/* 1 if an A/AAAA of name is in the client's network; 0 no; -1 with *err
 * set on temperror/permerror. Counts a void lookup if count_void (the a
 * mechanism's own query; not the address queries of MX hosts, or an IPv6
 * client would exhaust the limit on MX hosts without AAAA). */
static int spf_addr_match(spf_state *st, const char *name, int cidr4, int cidr6,
                          int count_void, enum spf_result *err)
{
    int v6 = st->mac.ipv6;
    dns_answer a;
    int hit = 0;

    (void)dns_query(st->dns, name, v6 ? DNS_T_AAAA : DNS_T_A, &a);
    if (a.status == DNS_TEMPFAIL) {
        snprintf(st->reason, sizeof(st->reason), "DNS timeout or failure for %.100s", name);
        *err = SPF_TEMPERROR;
        dns_answer_release(&a);
        return -1;
    }
    if (count_void && spf_note_void(st, a.status) != 0) {
        *err = SPF_PERMERROR;
        dns_answer_release(&a);
        return -1;
    }
    for (size_t k = 0; k < a.n && !hit; k++) {
        unsigned char bin[16];
        if (inet_pton(v6 ? AF_INET6 : AF_INET, a.rrs[k].text, bin) == 1 &&
            spf_cidr_eq(bin, st->mac.ip, v6 ? cidr6 : cidr4))
            hit = 1;
    }
    dns_answer_release(&a);
    return hit;
}

/* Returns the term's result when it matches, SPF_NOMATCH, or
 * SPF_TEMPERROR/SPF_PERMERROR as an error (negated to tell them apart:
 * -2 - result). */
#define SPF_ERR(r) (-2 - (int)(r))

static int spf_eval_term(spf_state *st, const spf_term *t, const char *domain, int depth)
{
    char target[256];
    enum spf_result err = SPF_PERMERROR;
    dns_answer a;
    int m;

    if (t->spec != NULL) {
        st->mac.domain = domain;
        if (spf_macro_expand(t->spec, &st->mac, 0, target, sizeof(target)) != 0) {
            snprintf(st->reason, sizeof(st->reason), "cannot expand %.100s", t->spec);
            return SPF_ERR(SPF_PERMERROR);
        }
    } else {
        (void)str_copy(target, sizeof(target), domain);
    }
    switch (t->mech) {
    case SPF_M_ALL:
        return spf_qual_result(t->qual);
    case SPF_M_IP4:
        if (st->mac.ipv6)
            return SPF_NOMATCH;
        return spf_cidr_eq(t->addr, st->mac.ip, t->cidr4) ? (int)spf_qual_result(t->qual)
                                                           : SPF_NOMATCH;
    case SPF_M_IP6:
        if (!st->mac.ipv6)
            return SPF_NOMATCH;
        return spf_cidr_eq(t->addr, st->mac.ip, t->cidr6) ? (int)spf_qual_result(t->qual)
                                                           : SPF_NOMATCH;
    case SPF_M_INCLUDE: {
        if (spf_count_lookup(st) != 0)
            return SPF_ERR(SPF_PERMERROR);
        enum spf_result r = spf_check_host(st, target, depth + 1, 0);
        switch (r) {
        case SPF_PASS:
            return spf_qual_result(t->qual);
        case SPF_FAIL: case SPF_SOFTFAIL: case SPF_NEUTRAL:
            return SPF_NOMATCH;
        case SPF_TEMPERROR:
            return SPF_ERR(SPF_TEMPERROR);
        case SPF_NONE:
            snprintf(st->reason, sizeof(st->reason), "include:%.100s has no SPF record", target);
            return SPF_ERR(SPF_PERMERROR);
        default:
            return SPF_ERR(SPF_PERMERROR);
        }
    }
    case SPF_M_A:
        if (spf_count_lookup(st) != 0)
            return SPF_ERR(SPF_PERMERROR);
        if (!spf_domain_valid(target))
            return SPF_NOMATCH;
        m = spf_addr_match(st, target, t->cidr4, t->cidr6, 1, &err);
        if (m < 0)
            return SPF_ERR(err);
        return m ? (int)spf_qual_result(t->qual) : SPF_NOMATCH;
    case SPF_M_MX: {
        if (spf_count_lookup(st) != 0)
            return SPF_ERR(SPF_PERMERROR);
        if (!spf_domain_valid(target))
            return SPF_NOMATCH;
        (void)dns_query(st->dns, target, DNS_T_MX, &a);
        if (a.status == DNS_TEMPFAIL) {
            snprintf(st->reason, sizeof(st->reason), "DNS timeout or failure for MX %.100s", target);
            dns_answer_release(&a);
            return SPF_ERR(SPF_TEMPERROR);
        }
        if (spf_note_void(st, a.status) != 0) {
            dns_answer_release(&a);
            return SPF_ERR(SPF_PERMERROR);
        }
        if (a.n > SPF_MAX_NAMES) {
            (void)str_copy(st->reason, sizeof(st->reason), "more than 10 MX names");
            dns_answer_release(&a);
            return SPF_ERR(SPF_PERMERROR);
        }
        int hit = 0;
        for (size_t k = 0; k < a.n && !hit; k++) {
            if (a.rrs[k].text[0] == '\0')
                continue;          /* null MX */
            m = spf_addr_match(st, a.rrs[k].text, t->cidr4, t->cidr6, 0, &err);
            if (m < 0) {
                dns_answer_release(&a);
                return SPF_ERR(err);
            }
            hit = m;
        }
        dns_answer_release(&a);
        return hit ? (int)spf_qual_result(t->qual) : SPF_NOMATCH;
    }
    case SPF_M_PTR: {
        char rev[80];
        size_t o = 0, tl = strlen(target);
        int hit = 0;
        if (spf_count_lookup(st) != 0)
            return SPF_ERR(SPF_PERMERROR);
        if (!st->mac.ipv6) {
            snprintf(rev, sizeof(rev), "%u.%u.%u.%u.in-addr.arpa", st->mac.ip[3],
                     st->mac.ip[2], st->mac.ip[1], st->mac.ip[0]);
        } else {
            for (int k = 15; k >= 0; k--) {
                if (o + 4 < sizeof(rev))
                    o += (size_t)snprintf(rev + o, sizeof(rev) - o, "%x.%x.",
                                          st->mac.ip[k] & 15, st->mac.ip[k] >> 4);
            }
            snprintf(rev + o, sizeof(rev) - o, "ip6.arpa");
        }
        (void)dns_query(st->dns, rev, DNS_T_PTR, &a);
        if (a.status != DNS_OK) {
            /* errors make ptr not match (§5.5); a void still counts */
            int over = spf_note_void(st, a.status);
            dns_answer_release(&a);
            return over ? SPF_ERR(SPF_PERMERROR) : SPF_NOMATCH;
        }
        for (size_t k = 0; k < a.n && k < SPF_MAX_NAMES && !hit; k++) {
            const char *name = a.rrs[k].text;
            size_t nl = strlen(name);
            if (!(strcasecmp(name, target) == 0 ||
                  (nl > tl && name[nl - tl - 1] == '.' &&
                   strcasecmp(name + nl - tl, target) == 0)))
                continue;
            dns_answer f;
            (void)dns_query(st->dns, name, st->mac.ipv6 ? DNS_T_AAAA : DNS_T_A, &f);
            for (size_t j = 0; f.status == DNS_OK && j < f.n && !hit; j++) {
                unsigned char bin[16];
                if (inet_pton(st->mac.ipv6 ? AF_INET6 : AF_INET, f.rrs[j].text, bin) == 1 &&
                    memcmp(bin, st->mac.ip, st->mac.ipv6 ? 16 : 4) == 0)
                    hit = 1;
            }
            dns_answer_release(&f);
        }
        dns_answer_release(&a);
        return hit ? (int)spf_qual_result(t->qual) : SPF_NOMATCH;
    }
    case SPF_M_EXISTS:
        if (spf_count_lookup(st) != 0)
            return SPF_ERR(SPF_PERMERROR);
        if (!spf_domain_valid(target))
            return SPF_NOMATCH;
        (void)dns_query(st->dns, target, DNS_T_A, &a);
        if (a.status == DNS_TEMPFAIL) {
            snprintf(st->reason, sizeof(st->reason), "DNS timeout or failure for %.100s", target);
            dns_answer_release(&a);
            return SPF_ERR(SPF_TEMPERROR);
        }
        m = a.status == DNS_OK;
        dns_answer_release(&a);
        if (!m && spf_note_void(st, a.status) != 0)
            return SPF_ERR(SPF_PERMERROR);
        return m ? (int)spf_qual_result(t->qual) : SPF_NOMATCH;
    }
    return SPF_ERR(SPF_PERMERROR);
}

static void spf_explain(spf_state *st, const spf_record *r, const char *domain)
{
    char target[256], text[512];
    dns_answer a;

    if (r->exp == NULL)
        return;
    st->mac.domain = domain;
    if (spf_macro_expand(r->exp, &st->mac, 0, target, sizeof(target)) != 0 ||
        !spf_domain_valid(target))
        return;
    (void)dns_query(st->dns, target, DNS_T_TXT, &a);
    /* exactly one TXT record, which must be a valid explain-string */
    if (a.status == DNS_OK && a.n == 1 && memchr(a.rrs[0].text, '\0', a.rrs[0].len) == NULL &&
        spf_macro_expand(a.rrs[0].text, &st->mac, 1, text, sizeof(text)) == 0) {
        for (char *p = text; *p; p++)
            if ((unsigned char)*p < 32 || (unsigned char)*p > 126)
                *p = '?';
        (void)str_copy(st->exp, sizeof(st->exp), text);
    }
    dns_answer_release(&a);
}

static enum spf_result spf_check_host(spf_state *st, const char *domain, int depth, int top)
{
    dns_answer a;
    const char *rec = NULL;
    size_t reclen = 0, found = 0;
    spf_record *r = NULL;
    char err[160], dom[256];
    enum spf_result res = SPF_NEUTRAL;

    if (!spf_domain_valid(domain)) {
        snprintf(st->reason, sizeof(st->reason), "not a valid domain: %.100s", domain);
        return SPF_NONE;
    }
    (void)str_copy(dom, sizeof(dom), domain);
    (void)dns_query(st->dns, dom, DNS_T_TXT, &a);
    if (a.status == DNS_TEMPFAIL) {
        snprintf(st->reason, sizeof(st->reason), "DNS timeout or failure for TXT %.100s", dom);
        dns_answer_release(&a);
        return SPF_TEMPERROR;
    }
    for (size_t k = 0; k < a.n; k++)
        if (spf_is_record(a.rrs[k].text, a.rrs[k].len)) {
            found++;
            rec = a.rrs[k].text;
            reclen = a.rrs[k].len;
        }
    if (found == 0) {
        snprintf(st->reason, sizeof(st->reason), "no SPF record at %.100s", dom);
        dns_answer_release(&a);
        return SPF_NONE;
    }
    if (found > 1) {
        snprintf(st->reason, sizeof(st->reason), "more than one SPF record at %.100s", dom);
        dns_answer_release(&a);
        return SPF_PERMERROR;
    }
    if (memchr(rec, '\0', reclen) != NULL ||
        spf_record_parse(rec, reclen, &r, err, sizeof(err)) != 0) {
        if (memchr(rec, '\0', reclen) != NULL)
            (void)str_copy(err, sizeof(err), "NUL in record");
        snprintf(st->reason, sizeof(st->reason), "%.100s: %.50s", dom, err);
        dns_answer_release(&a);
        return SPF_PERMERROR;
    }
    dns_answer_release(&a);
    for (size_t k = 0; k < r->n; k++) {
        int m = spf_eval_term(st, &r->terms[k], dom, depth);
        if (m == SPF_NOMATCH)
            continue;
        if (m <= SPF_ERR(0)) {
            res = (enum spf_result)(-2 - m);
            goto done;
        }
        res = (enum spf_result)m;
        {
            static const char *const names[] = {
                "all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists",
            };
            const spf_term *t = &r->terms[k];
            snprintf(st->reason, sizeof(st->reason), "%.80s: %s%s%s%.60s matched", dom,
                     t->qual == '+' ? "" : (t->qual == '-' ? "-" : t->qual == '~' ? "~" : "?"),
                     names[t->mech], t->spec ? ":" : "", t->spec ? t->spec : "");
        }
        if (res == SPF_FAIL && top)
            spf_explain(st, r, dom);
        goto done;
    }
    if (r->redirect != NULL) {
        char target[256];
        if (spf_count_lookup(st) != 0) {
            res = SPF_PERMERROR;
            goto done;
        }
        st->mac.domain = dom;
        if (spf_macro_expand(r->redirect, &st->mac, 0, target, sizeof(target)) != 0) {
            res = SPF_PERMERROR;
            goto done;
        }
        res = spf_check_host(st, target, depth + 1, top);
        if (res == SPF_NONE) {
            snprintf(st->reason, sizeof(st->reason), "redirect=%.100s has no SPF record", target);
            res = SPF_PERMERROR;
        }
        goto done;
    }
    snprintf(st->reason, sizeof(st->reason), "%.100s: no term matched", dom);
    res = SPF_NEUTRAL;
done:
    spf_record_free(r);
    return res;
}
