/*
 * dns.c - the two backends of dns.h: libunbound (asynchronous queries with
 * a deadline) and a JSON records file (check-auth, tests).
 *
 * Owns: the resolver (the unbound context or the loaded JSON zone) and the
 * answers it hands out (freed by dns_answer_release).
 *
 * SECURITY: DNS answers are untrusted: rdata is decoded with bounds checks,
 * names must be printable without '.' inside labels, record counts are
 * capped at DNS_MAX_RRS. The JSON file is trusted only as far as its shape
 * is checked at load time (size capped at DNS_FILE_MAX).
 * STANDARDS: RFC 1035 (wire formats of A, MX, PTR, CNAME, TXT), RFC 3596.
 *
 * Threads: unbound queries are started with ub_resolve_async; each caller
 * polls ub_fd in short slices and runs ub_process under proc_mu. The query
 * state lives on the heap and is freed by whichever of the waiter (after a
 * successful ub_cancel) or the callback (after the waiter gave up) is last.
 */
#include "dns.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unbound.h>

#include "buf.h"
#include "xalloc.h"

#define DNS_MAX_RRS    64
#define DNS_FILE_MAX   (8u << 20)
#define DNS_MAX_CNAME  8
#define DNS_SLICE_MS   20

enum dns_kind { DNS_KIND_UNBOUND, DNS_KIND_FILE };

struct dns_resolver {
    enum dns_kind   kind;
    struct ub_ctx  *ub;          /* owned (unbound) */
    int             timeout_ms;
    pthread_mutex_t mu;          /* query states */
    pthread_mutex_t proc_mu;     /* ub_process */
    json_t         *zone;        /* owned (file): lower-case name -> array */
};

typedef struct dns_ubq {
    int               done;
    int               abandoned;
    int               err;
    struct ub_result *res;
    dns_resolver     *r;
} dns_ubq;

static int  dns_name_norm(const char *name, char *out, size_t outlen);
static void dns_answer_set(dns_answer *a, enum dns_status st, const char *why);
static void dns_answer_add(dns_answer *a, enum dns_type t, const char *text,
                           size_t len, int pref);
static void dns_ub_callback(void *arg, int err, struct ub_result *res);
static int  dns_query_unbound(dns_resolver *r, const char *name, enum dns_type type,
                              dns_answer *out);
static void dns_ub_decode(struct ub_result *res, enum dns_type type, dns_answer *out);
static int  dns_query_file(dns_resolver *r, const char *name, enum dns_type type,
                           dns_answer *out);
static int  dns_file_check(json_t *root, json_t *zone, char *err, size_t errlen);
static int  dns_type_parse(const char *s, enum dns_type *t);
static long dns_now_ms(void);

const char *dns_status_text(enum dns_status s)
{
    switch (s) {
    case DNS_OK: return "ok";
    case DNS_NXDOMAIN: return "nxdomain";
    case DNS_NODATA: return "nodata";
    case DNS_TEMPFAIL: return "tempfail";
    case DNS_PERMFAIL: return "permfail";
    }
    return "unknown";
}

void dns_answer_release(dns_answer *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->n; i++)
        free(a->rrs[i].text);
    free(a->rrs);
    a->rrs = NULL;
    a->n = 0;
}

void dns_resolver_free(dns_resolver *r)
{
    if (r == NULL)
        return;
    if (r->ub != NULL) {
        /* deliver answers that arrived for abandoned queries (frees them) */
        (void)ub_process(r->ub);
        ub_ctx_delete(r->ub);
    }
    json_decref(r->zone);
    pthread_mutex_destroy(&r->mu);
    pthread_mutex_destroy(&r->proc_mu);
    free(r);
}

static dns_resolver *dns_resolver_new(enum dns_kind kind)
{
    dns_resolver *r = xcalloc(1, sizeof(*r));
    r->kind = kind;
    if (pthread_mutex_init(&r->mu, NULL) != 0 || pthread_mutex_init(&r->proc_mu, NULL) != 0)
        abort();
    return r;
}

dns_resolver *dns_resolver_create_unbound(const char *servers, int timeout_ms,
                                          const char *trust_anchor_file,
                                          char *err, size_t errlen)
{
    dns_resolver *r = dns_resolver_new(DNS_KIND_UNBOUND);
    int rc = 0;

    r->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
    r->ub = ub_ctx_create();
    if (r->ub == NULL) {
        snprintf(err, errlen, "ub_ctx_create failed");
        dns_resolver_free(r);
        return NULL;
    }
    if ((rc = ub_ctx_async(r->ub, 1)) != 0 ||
        (rc = ub_ctx_set_option(r->ub, "do-not-query-localhost:", "no")) != 0 ||
        /* unbound answers "test." itself (RFC 6761); pass it on instead,
         * as services/relay/relay_dns.c does. */
        (rc = ub_ctx_set_option(r->ub, "local-zone:", "test. transparent")) != 0)
        goto fail;
    if (trust_anchor_file != NULL && trust_anchor_file[0] != '\0' &&
        (rc = ub_ctx_add_ta_file(r->ub, trust_anchor_file)) != 0)
        goto fail;
    if (servers != NULL && servers[0] != '\0') {
        char *copy = xstrdup(servers), *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok != NULL;
             tok = strtok_r(NULL, ",", &save)) {
            while (*tok == ' ')
                tok++;
            size_t tl = strlen(tok);
            while (tl > 0 && tok[tl - 1] == ' ')
                tok[--tl] = '\0';
            if (tl == 0)
                continue;
            if ((rc = ub_ctx_set_fwd(r->ub, tok)) != 0) {
                snprintf(err, errlen, "DNS server \"%s\": %s", tok, ub_strerror(rc));
                free(copy);
                dns_resolver_free(r);
                return NULL;
            }
        }
        free(copy);
    } else if ((rc = ub_ctx_resolvconf(r->ub, NULL)) != 0) {
        goto fail;
    }
    return r;
fail:
    snprintf(err, errlen, "unbound: %s", ub_strerror(rc));
    dns_resolver_free(r);
    return NULL;
}

dns_resolver *dns_resolver_create_file(const char *json_path, char *err, size_t errlen)
{
    json_error_t jerr;
    struct stat st;
    json_t *root;
    dns_resolver *r;

    if (stat(json_path, &st) != 0) {
        snprintf(err, errlen, "%s: cannot read", json_path);
        return NULL;
    }
    if ((size_t)st.st_size > DNS_FILE_MAX) {
        snprintf(err, errlen, "%s: larger than %u bytes", json_path, DNS_FILE_MAX);
        return NULL;
    }
    root = json_load_file(json_path, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        snprintf(err, errlen, "%s:%d: %s", json_path, jerr.line, jerr.text);
        return NULL;
    }
    r = dns_resolver_new(DNS_KIND_FILE);
    r->zone = json_object();
    if (dns_file_check(root, r->zone, err, errlen) != 0) {
        json_decref(root);
        dns_resolver_free(r);
        return NULL;
    }
    json_decref(root);
    return r;
}

int dns_query(dns_resolver *r, const char *name, enum dns_type type, dns_answer *out)
{
    char norm[256];

    memset(out, 0, sizeof(*out));
    if (r == NULL) {
        dns_answer_set(out, DNS_TEMPFAIL, "no resolver");
        return -1;
    }
    if (dns_name_norm(name, norm, sizeof(norm)) != 0) {
        dns_answer_set(out, DNS_PERMFAIL, "malformed name");
        return 0;
    }
    if (r->kind == DNS_KIND_FILE)
        return dns_query_file(r, norm, type, out);
    return dns_query_unbound(r, norm, type, out);
}

/* --- helpers ------------------------------------------------------------ */

/* Lower-cases, drops one trailing dot, checks label lengths and characters
 * (printable ASCII other than space). */
static int dns_name_norm(const char *name, char *out, size_t outlen)
{
    size_t n = name ? strlen(name) : 0, label = 0;

    if (n > 0 && name[n - 1] == '.')
        n--;
    if (n == 0 || n > 253 || n >= outlen)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= 32 || c >= 127)
            return -1;
        if (c == '.') {
            if (label == 0)
                return -1;
            label = 0;
        } else if (++label > 63) {
            return -1;
        }
        out[i] = (char)tolower(c);
    }
    out[n] = '\0';
    return 0;
}

static void dns_answer_set(dns_answer *a, enum dns_status st, const char *why)
{
    a->status = st;
    (void)str_copy(a->why, sizeof(a->why), why ? why : "");
}

static void dns_answer_add(dns_answer *a, enum dns_type t, const char *text,
                           size_t len, int pref)
{
    if (a->n >= DNS_MAX_RRS)
        return;
    if (a->rrs == NULL)
        a->rrs = xcalloc(DNS_MAX_RRS, sizeof(dns_rr));
    dns_rr *rr = &a->rrs[a->n++];
    rr->type = t;
    rr->text = xmalloc(len + 1);
    memcpy(rr->text, text, len);
    rr->text[len] = '\0';
    rr->len = len;
    rr->pref = pref;
}

static long dns_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int dns_wire_name_text(const unsigned char *p, size_t len, char *out, size_t outlen)
{
    size_t i = 0, o = 0;

    for (;;) {
        if (i >= len)
            return -1;
        size_t l = p[i++];
        if (l == 0)
            break;
        if (l > 63 || i + l > len)
            return -1;
        if (o > 0) {
            if (o + 1 >= outlen)
                return -1;
            out[o++] = '.';
        }
        for (size_t k = 0; k < l; k++) {
            unsigned char c = p[i + k];
            if (c <= 32 || c >= 127 || c == '.' || o + 1 >= outlen)
                return -1;
            out[o++] = (char)tolower(c);
        }
        i += l;
    }
    out[o] = '\0';
    return o > 253 ? -1 : 0;
}

/* --- libunbound --------------------------------------------------------- */

static void dns_ub_callback(void *arg, int err, struct ub_result *res)
{
    dns_ubq *q = arg;
    pthread_mutex_t *mu = &q->r->mu;

    pthread_mutex_lock(mu);
    if (q->abandoned) {
        pthread_mutex_unlock(mu);
        if (res != NULL)
            ub_resolve_free(res);
        free(q);
        return;
    }
    q->done = 1;
    q->err = err;
    q->res = res;
    pthread_mutex_unlock(mu);
}

static int dns_query_unbound(dns_resolver *r, const char *name, enum dns_type type,
                             dns_answer *out)
{
    dns_ubq *q = xcalloc(1, sizeof(*q));
    long deadline = dns_now_ms() + r->timeout_ms;
    int id = 0, rc, fd;

    q->r = r;
    rc = ub_resolve_async(r->ub, name, (int)type, 1, q, dns_ub_callback, &id);
    if (rc != 0) {
        free(q);
        dns_answer_set(out, DNS_TEMPFAIL, ub_strerror(rc));
        return 0;
    }
    fd = ub_fd(r->ub);
    for (;;) {
        pthread_mutex_lock(&r->mu);
        int done = q->done;
        pthread_mutex_unlock(&r->mu);
        if (done)
            break;
        long left = deadline - dns_now_ms();
        if (left <= 0) {
            pthread_mutex_lock(&r->mu);
            done = q->done;
            if (!done)
                q->abandoned = 1;
            pthread_mutex_unlock(&r->mu);
            if (done)
                break;
            /* 0: cancelled, the callback will not run; else it runs (or
             * ran) and frees q. */
            if (ub_cancel(r->ub, id) == 0)
                free(q);
            dns_answer_set(out, DNS_TEMPFAIL, "timeout");
            return 0;
        }
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int wait = left < DNS_SLICE_MS ? (int)left : DNS_SLICE_MS;
        if (poll(&pfd, 1, wait) > 0 && (pfd.revents & POLLIN)) {
            pthread_mutex_lock(&r->proc_mu);
            (void)ub_process(r->ub);
            pthread_mutex_unlock(&r->proc_mu);
        }
    }
    if (q->err != 0 || q->res == NULL) {
        dns_answer_set(out, DNS_TEMPFAIL, ub_strerror(q->err));
    } else {
        dns_ub_decode(q->res, type, out);
        ub_resolve_free(q->res);
    }
    free(q);
    return 0;
}

static void dns_ub_decode(struct ub_result *res, enum dns_type type, dns_answer *out)
{
    char name[256];

    out->secure = res->secure ? 1 : 0;
    if (res->bogus) {
        char why[128];
        snprintf(why, sizeof(why), "DNSSEC bogus: %.100s",
                 res->why_bogus != NULL ? res->why_bogus : "validation failed");
        out->bogus = 1;
        dns_answer_set(out, DNS_TEMPFAIL, why);
        return;
    }
    if (res->rcode == 3 || res->nxdomain) {
        dns_answer_set(out, DNS_NXDOMAIN, "NXDOMAIN");
        return;
    }
    if (res->rcode != 0) {
        char why[32];
        snprintf(why, sizeof(why), "rcode %d", res->rcode);
        dns_answer_set(out, DNS_TEMPFAIL, why);
        return;
    }
    for (int i = 0; res->havedata && res->data[i] != NULL; i++) {
        const unsigned char *d = (const unsigned char *)res->data[i];
        size_t len = (size_t)res->len[i];
        char text[INET6_ADDRSTRLEN];
        switch (type) {
        case DNS_T_A:
            if (len == 4 && inet_ntop(AF_INET, d, text, sizeof(text)) != NULL)
                dns_answer_add(out, type, text, strlen(text), 0);
            break;
        case DNS_T_AAAA:
            if (len == 16 && inet_ntop(AF_INET6, d, text, sizeof(text)) != NULL)
                dns_answer_add(out, type, text, strlen(text), 0);
            break;
        case DNS_T_MX:
            if (len >= 3 && dns_wire_name_text(d + 2, len - 2, name, sizeof(name)) == 0)
                dns_answer_add(out, type, name, strlen(name), (d[0] << 8) | d[1]);
            break;
        case DNS_T_PTR:
        case DNS_T_CNAME:
            if (dns_wire_name_text(d, len, name, sizeof(name)) == 0)
                dns_answer_add(out, type, name, strlen(name), 0);
            break;
        case DNS_T_TXT: {
            char *cat = xmalloc(len + 1);
            size_t o = 0, k = 0;
            int ok = 1;
            while (k < len) {
                size_t l = d[k++];
                if (k + l > len) {
                    ok = 0;
                    break;
                }
                memcpy(cat + o, d + k, l);
                o += l;
                k += l;
            }
            if (ok)
                dns_answer_add(out, type, cat, o, 0);
            free(cat);
            break;
        }
        case DNS_T_TLSA:
            dns_answer_add(out, type, (const char *)d, len, 0);
            break;
        }
    }
    if (out->n == 0)
        dns_answer_set(out, res->havedata ? DNS_PERMFAIL : DNS_NODATA,
                       res->havedata ? "malformed answer" : "no records");
    else
        out->status = DNS_OK;
}

/* --- JSON file ---------------------------------------------------------- */

static int dns_type_parse(const char *s, enum dns_type *t)
{
    static const struct { const char *n; enum dns_type t; } map[] = {
        { "A", DNS_T_A }, { "AAAA", DNS_T_AAAA }, { "MX", DNS_T_MX },
        { "TXT", DNS_T_TXT }, { "PTR", DNS_T_PTR }, { "CNAME", DNS_T_CNAME },
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcasecmp(s, map[i].n) == 0) {
            *t = map[i].t;
            return 0;
        }
    return -1;
}

/* Checks every record of root and copies the lists into zone under the
 * normalised name. */
static int dns_file_check(json_t *root, json_t *zone, char *err, size_t errlen)
{
    const char *key;
    json_t *list;

    if (!json_is_object(root)) {
        snprintf(err, errlen, "DNS records: the top level must be an object");
        return -1;
    }
    json_object_foreach(root, key, list) {
        char norm[256];
        size_t i;
        json_t *rec;
        if (dns_name_norm(key, norm, sizeof(norm)) != 0) {
            snprintf(err, errlen, "DNS records: bad name \"%.100s\"", key);
            return -1;
        }
        if (!json_is_array(list)) {
            snprintf(err, errlen, "DNS records: %s: expected a list of records", norm);
            return -1;
        }
        json_t *dst = json_object_get(zone, norm);
        if (dst == NULL) {
            dst = json_array();
            json_object_set_new(zone, norm, dst);
        }
        json_array_foreach(list, i, rec) {
            const char *ts = json_string_value(json_object_get(rec, "type"));
            json_t *data = json_object_get(rec, "data");
            enum dns_type t;
            int ok = 0;
            if (ts == NULL) {
                snprintf(err, errlen, "DNS records: %s: record %zu has no type", norm, i);
                return -1;
            }
            if (strcasecmp(ts, "TIMEOUT") == 0) {
                ok = 1;
            } else if (dns_type_parse(ts, &t) != 0) {
                snprintf(err, errlen, "DNS records: %s: unknown type \"%.20s\"", norm, ts);
                return -1;
            } else if (t == DNS_T_MX) {
                ok = json_is_array(data) && json_array_size(data) == 2 &&
                     json_is_integer(json_array_get(data, 0)) &&
                     json_integer_value(json_array_get(data, 0)) >= 0 &&
                     json_integer_value(json_array_get(data, 0)) <= 65535 &&
                     json_is_string(json_array_get(data, 1));
            } else if (t == DNS_T_TXT) {
                ok = json_is_string(data);
                if (json_is_array(data)) {
                    size_t k;
                    json_t *s;
                    ok = 1;
                    json_array_foreach(data, k, s)
                        if (!json_is_string(s) || json_string_length(s) > 255)
                            ok = 0;
                }
            } else if (t == DNS_T_A || t == DNS_T_AAAA) {
                unsigned char bin[16];
                ok = json_is_string(data) &&
                     inet_pton(t == DNS_T_A ? AF_INET : AF_INET6,
                               json_string_value(data), bin) == 1;
            } else {
                ok = json_is_string(data);
            }
            if (!ok) {
                snprintf(err, errlen, "DNS records: %s: bad %s record data", norm, ts);
                return -1;
            }
            json_array_append(dst, rec);
        }
    }
    return 0;
}

static int dns_query_file(dns_resolver *r, const char *name, enum dns_type type,
                          dns_answer *out)
{
    char cur[256];

    (void)str_copy(cur, sizeof(cur), name);
    for (int hop = 0; hop <= DNS_MAX_CNAME; hop++) {
        json_t *list = json_object_get(r->zone, cur), *rec, *cname = NULL;
        int timeout = 0;
        size_t i;
        if (list == NULL) {
            dns_answer_set(out, DNS_NXDOMAIN, "NXDOMAIN");
            return 0;
        }
        json_array_foreach(list, i, rec) {
            const char *ts = json_string_value(json_object_get(rec, "type"));
            json_t *data = json_object_get(rec, "data");
            enum dns_type t;
            if (strcasecmp(ts, "TIMEOUT") == 0) {
                timeout = 1;
                continue;
            }
            if (dns_type_parse(ts, &t) != 0)
                continue;
            if (t == DNS_T_CNAME && type != DNS_T_CNAME)
                cname = data;
            if (t != type)
                continue;
            if (t == DNS_T_MX) {
                char host[256];
                const char *h = json_string_value(json_array_get(data, 1));
                if (strcmp(h, ".") == 0 || h[0] == '\0')
                    host[0] = '\0';
                else if (dns_name_norm(h, host, sizeof(host)) != 0)
                    continue;
                dns_answer_add(out, t, host, strlen(host),
                               (int)json_integer_value(json_array_get(data, 0)));
            } else if (t == DNS_T_TXT) {
                if (json_is_string(data)) {
                    dns_answer_add(out, t, json_string_value(data), json_string_length(data), 0);
                } else {
                    buf b;
                    size_t k;
                    json_t *s;
                    char *txt;
                    size_t tl = 0;
                    buf_init(&b, 65536);
                    json_array_foreach(data, k, s)
                        (void)buf_append(&b, json_string_value(s), json_string_length(s));
                    txt = buf_steal(&b, &tl);
                    dns_answer_add(out, t, txt ? txt : "", txt ? tl : 0, 0);
                    free(txt);
                }
            } else if (t == DNS_T_PTR || t == DNS_T_CNAME) {
                char host[256];
                if (dns_name_norm(json_string_value(data), host, sizeof(host)) == 0)
                    dns_answer_add(out, t, host, strlen(host), 0);
            } else {
                const char *s = json_string_value(data);
                dns_answer_add(out, t, s, strlen(s), 0);
            }
        }
        if (out->n > 0) {
            out->status = DNS_OK;
            return 0;
        }
        if (cname != NULL) {
            if (dns_name_norm(json_string_value(cname), cur, sizeof(cur)) != 0)
                break;
            continue;
        }
        if (timeout) {
            dns_answer_set(out, DNS_TEMPFAIL, "timeout");
            return 0;
        }
        dns_answer_set(out, DNS_NODATA, "no records");
        return 0;
    }
    dns_answer_set(out, DNS_PERMFAIL, "CNAME loop");
    return 0;
}
