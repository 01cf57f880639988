/*
 * dmarc_mitigate.c - DMARC From mitigation (see dmarc_mitigate.h): the
 * policy question, the From parser, the reversible address encoding and
 * the three transformations (munge-from, wrap, encode-address).
 *
 * Pure except dmarc_mitigate_policy (DNS through the caller's resolver).
 * Every field the transformation does not name stays byte for byte; the
 * wrapped original is carried unchanged inside the message/rfc822 part.
 *
 * STANDARDS: RFC 5322 (From, Reply-To, Cc), RFC 2047 (display names),
 * RFC 2046 (multipart/mixed, message/rfc822), RFC 7489 / DMARCbis (policy).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dmarc_mitigate.h"
#include "xalloc.h"

#define MIT_VALUE_MAX  900       /* a copied From value longer than this is
                                  * replaced by the bare <address> */
#define MIT_WRAP_MAX   (64u << 20)

static int mit_from_munged(const char *name, const char *addr,
                           const dmarc_mitigate_info *info, buf *out);
static int mit_author_value(const hdr_msg *m, const char *addr, char **out);

static const char *const mit_names[] = {
    [DMARC_MIT_NONE] = "none",
    [DMARC_MIT_MUNGE_FROM] = "munge-from",
    [DMARC_MIT_WRAP] = "wrap",
    [DMARC_MIT_ENCODE_ADDRESS] = "encode-address",
};

const char *dmarc_mitigation_text(enum dmarc_mitigation m)
{
    if ((size_t)m >= sizeof mit_names / sizeof mit_names[0])
        return "none";
    return mit_names[m];
}

int dmarc_mitigation_parse(const char *text, enum dmarc_mitigation *out)
{
    for (size_t i = 0; text != NULL && i < sizeof mit_names / sizeof mit_names[0]; i++)
        if (strcmp(text, mit_names[i]) == 0) {
            *out = (enum dmarc_mitigation)i;
            return 0;
        }
    return -1;
}

int dmarc_mitigate_policy(dns_resolver *dns, const char *author_domain,
                          enum dmarc_policy *out)
{
    dmarc_outcome o;
    dmarc_check(dns, author_domain, NULL, NULL, 0, &o);
    if (o.result == DMARC_TEMPERROR)
        *out = DMARC_P_QUARANTINE;
    else if (o.result == DMARC_NONE || o.result == DMARC_PERMERROR || o.policy == DMARC_P_UNSET)
        *out = DMARC_P_NONE;
    else
        *out = o.policy;
    return 0;
}

int dmarc_mitigate_needed(enum dmarc_policy p, int always)
{
    return always || p == DMARC_P_QUARANTINE || p == DMARC_P_REJECT;
}

/* ---- From parsing ---- */

/* Appends c to the name unless it is a control character; collapses runs
 * of white space. */
static void mit_name_put(char *name, size_t namelen, size_t *n, unsigned char c)
{
    if (c == '\t' || c == '\r' || c == '\n')
        c = ' ';
    if (c < 0x20 || c == 0x7f)
        return;
    if (c == ' ' && (*n == 0 || name[*n - 1] == ' '))
        return;
    if (*n + 1 < namelen)
        name[(*n)++] = (char)c;
}

/* Cuts name at most at max octets, on a UTF-8 boundary, trims spaces. */
static void mit_name_finish(char *name, size_t n, size_t max)
{
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)name[n] & 0xc0) == 0x80)
            n--;
    }
    while (n > 0 && name[n - 1] == ' ')
        n--;
    name[n] = '\0';
}

static int mit_copy_trim(const char *s, const char *e, char *out, size_t outlen)
{
    while (s < e && isspace((unsigned char)*s))
        s++;
    while (e > s && isspace((unsigned char)e[-1]))
        e--;
    if (e == s || (size_t)(e - s) >= outlen)
        return -1;
    for (const char *p = s; p < e; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '<' || *p == '>' || *p == '"' ||
            *p == ',' || *p == '(' || *p == ')')
            return -1;
    memcpy(out, s, (size_t)(e - s));
    out[e - s] = '\0';
    return strchr(out, '@') != NULL && out[0] != '@' && out[e - s - 1] != '@' ? 0 : -1;
}

int dmarc_mitigate_parse_from(const char *value, char *addr, size_t addrlen,
                              char *name, size_t namelen)
{
    size_t nn = 0, cn = 0;
    int inq = 0, depth = 0;
    char comment[DMARC_MITIGATE_NAME_MAX + 1];
    const char *start = NULL, *end = NULL;

    if (value == NULL || namelen == 0)
        return -1;
    name[0] = '\0';
    const char *p = value;
    for (; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (inq) {
            if (c == '\\' && p[1] != '\0')
                mit_name_put(name, namelen, &nn, (unsigned char)*++p);
            else if (c == '"')
                inq = 0;
            else
                mit_name_put(name, namelen, &nn, c);
        } else if (depth > 0) {
            if (c == '\\' && p[1] != '\0')
                p++;
            else if (c == '(')
                depth++;
            else if (c == ')')
                depth--;
            else if (depth == 1)
                mit_name_put(comment, sizeof comment, &cn, c);
        } else if (c == '"') {
            inq = 1;
        } else if (c == '(') {
            depth = 1;
        } else if (c == '<') {
            start = p + 1;
            end = strchr(start, '>');
            break;
        } else if (c == ',' || c == ';') {
            break;
        } else {
            mit_name_put(name, namelen, &nn, c);
        }
    }
    if (start != NULL) {
        if (end == NULL || mit_copy_trim(start, end, addr, addrlen) != 0)
            return -1;
        mit_name_finish(name, nn, namelen - 1 < DMARC_MITIGATE_NAME_MAX
                                  ? namelen - 1 : DMARC_MITIGATE_NAME_MAX);
        return 0;
    }
    /* no angle address: the addr-spec is the text outside comments, a
     * comment is the legacy "a@b (Name)" display name */
    if (inq || depth > 0 || mit_copy_trim(name, name + nn, addr, addrlen) != 0) {
        name[0] = '\0';
        return -1;
    }
    memcpy(name, comment, cn);
    mit_name_finish(name, cn, namelen - 1 < DMARC_MITIGATE_NAME_MAX
                              ? namelen - 1 : DMARC_MITIGATE_NAME_MAX);
    return 0;
}

/* ---- address encoding ---- */

int dmarc_mitigate_encode_local(const char *author, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0, len = strlen(author);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)author[i];
        int keep = isalnum(c) || c == '-' || c == '_' || c == '+' ||
                   (c == '.' && n > 0 && out[n - 1] != '.' && i + 1 < len);
        size_t need = keep ? 1 : 3;
        if (n + need >= outlen || n + need > DMARC_MITIGATE_LOCAL_MAX)
            return -1;
        if (keep) {
            out[n++] = (char)c;
        } else {
            out[n++] = '=';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    out[n] = '\0';
    return n > 0 ? 0 : -1;
}

static int mit_hex(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (unsigned char)tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int dmarc_mitigate_decode_local(const char *local, char *out, size_t outlen)
{
    size_t n = 0;
    int at = 0;
    for (const char *p = local; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '=') {
            int h = mit_hex((unsigned char)p[1]), l = h < 0 ? -1 : mit_hex((unsigned char)p[2]);
            if (h < 0 || l < 0)
                return -1;
            c = (unsigned char)(h * 16 + l);
            p += 2;
            if (c < 0x20 || c == 0x7f)
                return -1;
            if (c == '@')
                at = 1;
        } else if (!(isalnum(c) || c == '-' || c == '_' || c == '+' || c == '.')) {
            return -1;
        }
        if (n + 1 >= outlen)
            return -1;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    char *last = strrchr(out, '@');
    if (!at || last == NULL || last == out || last[1] == '\0')
        return -1;
    return 0;
}

/* ---- transformations ---- */

/* "Name via ListName" <list> into out (the author's address when there
 * is no name). Encoded words in name are kept as written when name is
 * otherwise plain printable ASCII. */
static int mit_from_munged(const char *name, const char *addr,
                           const dmarc_mitigate_info *info, buf *out)
{
    if (name[0] == '\0')
        name = addr;
    const char *list = info->name != NULL && info->name[0] != '\0' ? info->name : NULL;
    char local[DMARC_MITIGATE_ADDR_MAX + 1];
    if (list == NULL) {
        size_t k = strcspn(info->address, "@");
        if (k >= sizeof local)
            return -1;
        memcpy(local, info->address, k);
        local[k] = '\0';
        list = local;
    }
    int raw_words = strstr(name, "=?") != NULL;
    for (const unsigned char *p = (const unsigned char *)name; raw_words && *p; p++)
        if (*p < 0x20 || *p >= 0x7f || strchr("\"\\<>,;:@()[]", *p) != NULL)
            raw_words = 0;
    buf text;
    buf_init(&text, 2 * DMARC_MITIGATE_NAME_MAX + 512);
    int rc = -1;
    if (raw_words) {
        if (buf_append_str(out, name) != 0 || buf_append_str(out, " ") != 0 ||
            buf_printf(&text, "via %s", list) != 0 || hdr_phrase_append(out, text.data) != 0)
            goto done;
    } else {
        if (buf_printf(&text, "%s via %s", name, list) != 0 ||
            hdr_phrase_append(out, text.data) != 0)
            goto done;
    }
    rc = buf_printf(out, " <%s>", info->address);
done:
    buf_release(&text);
    return rc;
}

/* The author as a value for Reply-To / Cc / X-Original-From: the original
 * From value when short enough, else <addr>. Caller frees *out. */
static int mit_author_value(const hdr_msg *m, const char *addr, char **out)
{
    char *v = hdr_get_value(m, "From");
    if (v == NULL)
        return -1;
    if (strlen(v) > MIT_VALUE_MAX) {
        free(v);
        size_t n = strlen(addr) + 3;
        v = xmalloc(n);
        snprintf(v, n, "<%s>", addr);
    }
    *out = v;
    return 0;
}

/* Adds author to the Cc field (or a new Cc), unless it is there already. */
static int mit_add_cc(hdr_msg *m, const char *author_value, const char *addr)
{
    long i = hdr_find(m, "Cc", 0);
    if (i < 0)
        return hdr_insert(m, m->nfields, "Cc", author_value);
    char *v = hdr_field_value(m, (size_t)i);
    if (v == NULL)
        return -1;
    int rc = 0;
    if (strcasestr(v, addr) == NULL) {
        buf nv;
        buf_init(&nv, strlen(v) + strlen(author_value) + 16);
        rc = buf_printf(&nv, "%s,%s %s", v, m->eol, author_value) == 0
             ? hdr_replace(m, (size_t)i, NULL, nv.data) : -1;
        buf_release(&nv);
    }
    free(v);
    return rc;
}

static int mit_munge(hdr_msg *m, long from_i, const char *addr, const char *name,
                     const dmarc_mitigate_info *info)
{
    char *author = NULL;
    buf from;
    int rc = -1;
    buf_init(&from, 4096);
    if (mit_author_value(m, addr, &author) != 0 || mit_from_munged(name, addr, info, &from) != 0)
        goto out;
    if (hdr_replace(m, (size_t)from_i, NULL, from.data) != 0)
        goto out;
    if (info->sets_reply_to || hdr_find(m, "Reply-To", 0) >= 0)
        rc = mit_add_cc(m, author, addr);
    else
        rc = hdr_insert(m, (size_t)from_i + 1, "Reply-To", author);
out:
    free(author);
    buf_release(&from);
    return rc;
}

static int mit_encode(hdr_msg *m, long from_i, const char *addr, const char *name,
                      const dmarc_mitigate_info *info, dmarc_mitigate_result *res)
{
    char local[DMARC_MITIGATE_LOCAL_MAX + 1];
    char *author = NULL;
    buf from;
    int rc = -1;

    if (info->encode_domain == NULL || info->encode_domain[0] == '\0' ||
        dmarc_mitigate_encode_local(addr, local, sizeof local) != 0)
        return 1;   /* the caller falls back to munge-from */
    buf_init(&from, 4096);
    if (mit_author_value(m, addr, &author) != 0)
        goto out;
    if (name[0] != '\0' && (hdr_phrase_append(&from, name) != 0 ||
                            buf_append_str(&from, " ") != 0))
        goto out;
    if (buf_printf(&from, "<%s@%s>", local, info->encode_domain) != 0)
        goto out;
    hdr_remove_all(m, "X-Original-From");
    from_i = hdr_find(m, "From", 0);
    if (from_i < 0 || hdr_replace(m, (size_t)from_i, NULL, from.data) != 0 ||
        hdr_insert(m, (size_t)from_i + 1, "X-Original-From", author) != 0)
        goto out;
    if (res != NULL)
        snprintf(res->encoded, sizeof res->encoded, "%s@%s", local, info->encode_domain);
    rc = 0;
out:
    free(author);
    buf_release(&from);
    return rc;
}

/* Field i's raw bytes appended to out, ended by a line end. */
static int mit_append_raw(const hdr_msg *m, size_t i, buf *out)
{
    const hdr_field *f = &m->fields[i];
    if (buf_append(out, f->raw, f->raw_len) != 0)
        return -1;
    if (f->raw_len == 0 || f->raw[f->raw_len - 1] != '\n')
        return buf_append_str(out, m->eol);
    return 0;
}

/* Every field named fname appended to out. */
static int mit_copy_field(const hdr_msg *m, const char *fname, buf *out)
{
    for (size_t n = 0;; n++) {
        long i = hdr_find(m, fname, n);
        if (i < 0)
            return 0;
        if (mit_append_raw(m, (size_t)i, out) != 0)
            return -1;
    }
}

/* A boundary that does not occur in the original. */
static void mit_boundary(const buf *orig, char *out, size_t outlen)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < orig->len; i++)
        h = (h ^ (unsigned char)orig->data[i]) * 1099511628211ull;
    for (unsigned k = 0;; k++) {
        snprintf(out, outlen, "=_mailyard_%016llx_%u", (unsigned long long)h, k);
        if (memmem(orig->data, orig->len, out, strlen(out)) == NULL)
            return;
    }
}

static int mit_wrap(hdr_msg *m, const char *addr, const char *name,
                    const dmarc_mitigate_info *info)
{
    static const char *const kept[] = { "Date", "Message-ID", "Subject", "To", "Cc",
                                        "In-Reply-To", "References", NULL };
    char boundary[64];
    char *author = NULL;
    buf orig, w, from;
    int rc = -1;
    const char *eol = m->eol;
    hdr_msg *nm = NULL;

    buf_init(&orig, MIT_WRAP_MAX);
    buf_init(&w, MIT_WRAP_MAX + 65536);
    buf_init(&from, 4096);
    if (hdr_serialize(m, &orig) != 0 || mit_author_value(m, addr, &author) != 0 ||
        mit_from_munged(name, addr, info, &from) != 0)
        goto out;
    mit_boundary(&orig, boundary, sizeof boundary);
    int eight = 0;
    for (size_t i = 0; i < orig.len && !eight; i++)
        eight = (unsigned char)orig.data[i] >= 0x80;
    /* trace fields stay on top (the relay's ARC-Authentication-Results
     * carries our Authentication-Results); earlier ARC sets do not: they
     * signed the original, which is now inside */
    for (size_t i = 0; i < m->nfields; i++) {
        char *n = m->fields[i].raw;
        size_t nl = m->fields[i].name_len;
        while (nl > 0 && (n[nl - 1] == ' ' || n[nl - 1] == '\t'))
            nl--;
        if ((nl == 8 && strncasecmp(n, "Received", 8) == 0) ||
            (nl == 22 && strncasecmp(n, "Authentication-Results", 22) == 0)) {
            if (mit_append_raw(m, i, &w) != 0)
                goto out;
        }
    }
    if (buf_printf(&w, "From: %s%s", from.data, eol) != 0)
        goto out;
    for (size_t k = 0; kept[k] != NULL; k++)
        if (mit_copy_field(m, kept[k], &w) != 0)
            goto out;
    if (hdr_find(m, "Reply-To", 0) >= 0 && !info->sets_reply_to) {
        if (mit_copy_field(m, "Reply-To", &w) != 0)
            goto out;
    } else if (!info->sets_reply_to && buf_printf(&w, "Reply-To: %s%s", author, eol) != 0) {
        goto out;
    }
    if (buf_printf(&w, "MIME-Version: 1.0%s"
                       "Content-Type: multipart/mixed; boundary=\"%s\"%s%s"
                       "--%s%s"
                       "Content-Type: text/plain; charset=us-ascii%s"
                       "Content-Transfer-Encoding: 7bit%s%s"
                       "This message was sent to %s by the author%s"
                       "named in the attached message. The author's domain publishes a%s"
                       "DMARC policy that does not let us resend it under the author's%s"
                       "address, so the original is attached unchanged.%s"
                       "--%s%s"
                       "Content-Type: message/rfc822%s"
                       "Content-Disposition: inline%s"
                       "Content-Transfer-Encoding: %s%s%s",
                   eol, boundary, eol, eol, boundary, eol, eol, eol, eol,
                   info->address, eol, eol, eol, eol, boundary, eol, eol, eol,
                   eight ? "8bit" : "7bit", eol, eol) != 0)
        goto out;
    if (buf_append(&w, orig.data, orig.len) != 0)
        goto out;
    if (orig.len > 0 && orig.data[orig.len - 1] != '\n' && buf_append_str(&w, eol) != 0)
        goto out;
    if (buf_printf(&w, "%s--%s--%s", eol, boundary, eol) != 0)
        goto out;
    enum hdr_error herr = HDR_OK;
    nm = hdr_parse(w.data, w.len, m->nfields + 32, 1u << 20, &herr);
    if (nm == NULL)
        goto out;
    hdr_msg tmp = *m;
    *m = *nm;
    *nm = tmp;
    rc = 0;
out:
    hdr_msg_free(nm);
    free(author);
    buf_release(&orig);
    buf_release(&w);
    buf_release(&from);
    return rc;
}

int dmarc_mitigate_apply(hdr_msg *m, enum dmarc_mitigation mode,
                         const dmarc_mitigate_info *info, dmarc_mitigate_result *res)
{
    char addr[DMARC_MITIGATE_ADDR_MAX + 1], name[DMARC_MITIGATE_NAME_MAX + 1];

    if (res != NULL)
        memset(res, 0, sizeof *res);
    if (mode == DMARC_MIT_NONE)
        return 0;
    if (info == NULL || info->address == NULL || strchr(info->address, '@') == NULL)
        return -1;
    long from_i = hdr_find(m, "From", 0);
    if (from_i < 0)
        return -1;
    char *v = hdr_field_value(m, (size_t)from_i);
    int prc = v != NULL ? dmarc_mitigate_parse_from(v, addr, sizeof addr, name, sizeof name)
                        : -1;
    free(v);
    if (prc != 0)
        return -1;
    if (res != NULL)
        snprintf(res->author, sizeof res->author, "%s", addr);

    int rc;
    if (mode == DMARC_MIT_ENCODE_ADDRESS) {
        rc = mit_encode(m, from_i, addr, name, info, res);
        if (rc == 1) {
            mode = DMARC_MIT_MUNGE_FROM;
            rc = mit_munge(m, from_i, addr, name, info);
        }
    } else if (mode == DMARC_MIT_WRAP) {
        rc = mit_wrap(m, addr, name, info);
    } else {
        rc = mit_munge(m, from_i, addr, name, info);
    }
    if (rc == 0 && res != NULL)
        res->applied = mode;
    return rc;
}
