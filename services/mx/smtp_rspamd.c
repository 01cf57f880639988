/*
 * smtp_rspamd.c - the rspamd client of mx (smtp_rspamd.h): builds the
 * /checkv2 request from the envelope, reads the verdict, writes the
 * X-Spam-* fields, and decides accept / 550 / 451.
 *
 * Owns: the configuration, a small pool of idle HTTP clients (libcommon
 * httpc, one curl handle each, kept alive between messages; a client is
 * used by one thread at a time), the scan counter, and one reference on
 * libcurl's global state (so the clients' init/cleanup never tears it
 * down while another thread uses it).
 *
 * SECURITY: the reply is untrusted: only the score, the required score,
 * the action (compared with known names) and the symbols (names and
 * options filtered to printable ASCII, bounded) are used.
 *
 * STANDARDS: rspamd's HTTP protocol (/checkv2, request headers IP, Helo,
 * From, Rcpt, Queue-Id, User); RFC 5322 header fields; RFC 3463 codes.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>
#include "hdr.h"
#include "httpc.h"
#include "log.h"
#include "xalloc.h"
#include "smtp_rspamd.h"

#define SMTP_RSPAMD_POOL_MAX     16
#define SMTP_RSPAMD_READ_SYMBOLS 4096    /* symbols of a reply looked at */
#define SMTP_RSPAMD_MAX_OPTIONS  4
#define SMTP_RSPAMD_OPTION_MAX   64
#define SMTP_RSPAMD_HDR_FIELDS   1000
#define SMTP_RSPAMD_HDR_FIELD_LEN (64 * 1024)
#define SMTP_RSPAMD_LINE_MAX     1100    /* one request header line */

struct smtp_rspamd {
    char           *url;                 /* owned, base URL */
    long            timeout_ms;
    int             have_reject_score;
    double          reject_score;
    int             fail_open;
    pthread_mutex_t lock;                /* protects idle/nidle */
    httpc          *idle[SMTP_RSPAMD_POOL_MAX];  /* owned */
    size_t          nidle;
    metrics_family *m_scans;             /* borrowed (registry) or NULL */
};

/* One symbol of the reply, for sorting. */
typedef struct smtp_rspamd_sym {
    const char   *name;                  /* borrowed from the reply */
    double        score;
    const json_t *options;               /* borrowed, may be NULL */
} smtp_rspamd_sym;

static const char *const smtp_rspamd_fields[] = {
    "X-Spam-Score", "X-Spam-Status", "X-Rspamd-Action", "X-Spamd-Result",
};

/* rspamd's built-in actions (the names have spaces). */
static const char *const smtp_rspamd_actions[] = {
    "no action", "greylist", "add header", "rewrite subject", "soft reject", "reject",
    "discard", "quarantine",
};

static httpc *smtp_rspamd_client_get(smtp_rspamd *r);
static void   smtp_rspamd_client_put(smtp_rspamd *r, httpc *c, int reuse);
static int    smtp_rspamd_sym_cmp(const void *a, const void *b);
static void   smtp_rspamd_clean(const char *in, char *out, size_t outlen);
static int    smtp_rspamd_symbols_format(const json_t *symbols, char *out, size_t outlen);
static size_t smtp_rspamd_request_lines(const smtp_rspamd_req *req, char **lines,
                                        size_t max);
static int    smtp_rspamd_scan(smtp_rspamd *r, const smtp_rspamd_req *req,
                               const buf *msg, smtp_rspamd_result *res);
static void   smtp_rspamd_count(smtp_rspamd *r, const char *result);
static int    smtp_rspamd_is_spam(const char *action);

int smtp_rspamd_create(const config *cfg, metrics_registry *mr, smtp_rspamd **out,
                       char *err, size_t errlen)
{
    static const char *const labels[] = { "result", NULL };
    *out = NULL;
    const char *url = config_get(cfg, "MAILYARD_MX_RSPAMD_URL", "");
    if (url[0] == '\0')
        return 0;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        snprintf(err, errlen, "MAILYARD_MX_RSPAMD_URL: not an http(s) URL");
        return -1;
    }
    long timeout = config_get_long(cfg, "MAILYARD_MX_RSPAMD_TIMEOUT_MS", 5000);
    if (timeout < 100 || timeout > 600000) {
        snprintf(err, errlen, "MAILYARD_MX_RSPAMD_TIMEOUT_MS: not between 100 and 600000");
        return -1;
    }
    const char *rs = config_get(cfg, "MAILYARD_MX_RSPAMD_REJECT_SCORE", "");
    double score = 0;
    if (rs[0] != '\0') {
        char *end;
        score = strtod(rs, &end);
        if (end == rs || *end != '\0' || !isfinite(score)) {
            snprintf(err, errlen, "MAILYARD_MX_RSPAMD_REJECT_SCORE: not a number");
            return -1;
        }
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "libcurl initialisation failed");
        return -1;
    }
    smtp_rspamd *r = xcalloc(1, sizeof *r);
    r->url = xstrdup(url);
    r->timeout_ms = timeout;
    r->have_reject_score = rs[0] != '\0';
    r->reject_score = score;
    r->fail_open = config_get_bool(cfg, "MAILYARD_MX_RSPAMD_FAIL_OPEN", 1);
    if (pthread_mutex_init(&r->lock, NULL) != 0)
        fatal("smtp rspamd: mutex init failed");
    if (mr != NULL)
        r->m_scans = metrics_counter(mr, "mailyard_smtp_rspamd_scans_total",
                                     "rspamd scans of received messages, by result "
                                     "(accepted, spam, soft_reject, error)", labels);
    log_info("spam scanning with rspamd", "url", url, "reject_score",
             rs[0] != '\0' ? rs : "(rspamd's reject action)",
             "fail_open", r->fail_open ? "on" : "off");
    *out = r;
    return 0;
}

void smtp_rspamd_free(smtp_rspamd *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->nidle; i++)
        httpc_free(r->idle[i]);
    pthread_mutex_destroy(&r->lock);
    free(r->url);
    free(r);
    curl_global_cleanup();
}

static httpc *smtp_rspamd_client_get(smtp_rspamd *r)
{
    httpc *c = NULL;
    pthread_mutex_lock(&r->lock);
    if (r->nidle > 0)
        c = r->idle[--r->nidle];
    pthread_mutex_unlock(&r->lock);
    if (c == NULL)
        c = httpc_create(r->url, NULL, r->timeout_ms);
    return c;
}

/* Returns c to the pool, or frees it (after a failure, or a full pool). */
static void smtp_rspamd_client_put(smtp_rspamd *r, httpc *c, int reuse)
{
    if (c == NULL)
        return;
    if (reuse) {
        pthread_mutex_lock(&r->lock);
        if (r->nidle < SMTP_RSPAMD_POOL_MAX) {
            r->idle[r->nidle++] = c;
            c = NULL;
        }
        pthread_mutex_unlock(&r->lock);
    }
    httpc_free(c);
}

static void smtp_rspamd_count(smtp_rspamd *r, const char *result)
{
    if (r->m_scans != NULL)
        metrics_counter_inc(r->m_scans, result);
}

/* "Yes" in X-Spam-Status: every action but "no action" and "greylist". */
static int smtp_rspamd_is_spam(const char *action)
{
    return strcmp(action, "no action") != 0 && strcmp(action, "greylist") != 0;
}

/* Highest score first, then by name: a stable, useful order. */
static int smtp_rspamd_sym_cmp(const void *a, const void *b)
{
    const smtp_rspamd_sym *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Copies in to out keeping printable ASCII except the characters that
 * structure X-Spamd-Result ("[];,()"); truncates to fit. */
static void smtp_rspamd_clean(const char *in, char *out, size_t outlen)
{
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && k + 1 < outlen; p++) {
        if (*p < 0x21 || *p > 0x7e || strchr("[];,()", *p) != NULL)
            out[k++] = '_';
        else
            out[k++] = (char)*p;
    }
    out[k] = '\0';
}

/* Appends the symbols as ";\r\n\tNAME(score)[opt,opt]" items (one per
 * folded line), highest scores first; stops at SMTP_RSPAMD_MAX_SYMBOLS or
 * before outlen would be passed. */
static int smtp_rspamd_symbols_format(const json_t *symbols, char *out, size_t outlen)
{
    size_t cap = json_object_size(symbols);
    if (cap > SMTP_RSPAMD_READ_SYMBOLS)
        cap = SMTP_RSPAMD_READ_SYMBOLS;
    if (cap == 0)
        return 0;
    smtp_rspamd_sym *syms = xcalloc(cap, sizeof *syms);
    size_t n = 0, len = strlen(out);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)symbols, key, v) {
        if (n == cap)
            break;
        json_t *sc = json_object_get(v, "score");
        syms[n].name = key;
        syms[n].score = json_is_number(sc) ? json_number_value(sc) : 0.0;
        syms[n].options = json_object_get(v, "options");
        n++;
    }
    qsort(syms, n, sizeof syms[0], smtp_rspamd_sym_cmp);
    for (size_t i = 0; i < n && i < SMTP_RSPAMD_MAX_SYMBOLS; i++) {
        char name[64], item[400], opts[SMTP_RSPAMD_MAX_OPTIONS * (SMTP_RSPAMD_OPTION_MAX + 1)];
        smtp_rspamd_clean(syms[i].name, name, sizeof name);
        opts[0] = '\0';
        size_t olen = 0, k;
        json_t *o;
        if (json_is_array(syms[i].options)) {
            json_array_foreach(syms[i].options, k, o) {
                if (k == SMTP_RSPAMD_MAX_OPTIONS || !json_is_string(o))
                    break;
                char one[SMTP_RSPAMD_OPTION_MAX];
                smtp_rspamd_clean(json_string_value(o), one, sizeof one);
                int w = snprintf(opts + olen, sizeof opts - olen, "%s%s", k ? "," : "", one);
                if (w < 0 || (size_t)w >= sizeof opts - olen)
                    break;
                olen += (size_t)w;
            }
        }
        int w = snprintf(item, sizeof item, ";\r\n\t%s(%.2f)[%s]", name, syms[i].score, opts);
        if (w < 0 || (size_t)w >= sizeof item || len + (size_t)w + 1 > outlen)
            break;
        memcpy(out + len, item, (size_t)w + 1);
        len += (size_t)w;
    }
    free(syms);
    return 0;
}

int smtp_rspamd_parse(const json_t *reply, smtp_rspamd_result *out)
{
    memset(out, 0, sizeof *out);
    const json_t *score = json_object_get(reply, "score");
    const json_t *req = json_object_get(reply, "required_score");
    const json_t *action = json_object_get(reply, "action");
    if (!json_is_number(score) || !json_is_string(action) ||
        !isfinite(json_number_value(score)))
        return -1;
    out->score = json_number_value(score);
    out->required = json_is_number(req) ? json_number_value(req) : 0.0;
    if (!isfinite(out->required))
        out->required = 0.0;
    const char *a = json_string_value(action);
    size_t i;
    for (i = 0; i < sizeof smtp_rspamd_actions / sizeof smtp_rspamd_actions[0]; i++)
        if (strcmp(a, smtp_rspamd_actions[i]) == 0)
            break;
    if (i < sizeof smtp_rspamd_actions / sizeof smtp_rspamd_actions[0])
        (void)str_copy(out->action, sizeof out->action, smtp_rspamd_actions[i]);
    else                                       /* a custom action: keep it safe */
        smtp_rspamd_clean(a, out->action, sizeof out->action);
    snprintf(out->symbols, sizeof out->symbols, "default: %s [%.2f / %.2f]",
             smtp_rspamd_is_spam(out->action) ? "True" : "False", out->score,
             out->required);
    const json_t *symbols = json_object_get(reply, "symbols");
    if (json_is_object(symbols))
        smtp_rspamd_symbols_format(symbols, out->symbols, sizeof out->symbols);
    return 0;
}

int smtp_rspamd_headers_apply(const smtp_rspamd_result *res, buf *msg)
{
    int spam = smtp_rspamd_is_spam(res->action);
    char score[32], status[96];
    snprintf(score, sizeof score, "%.2f", res->score);
    snprintf(status, sizeof status, "%s, score=%.2f required=%.2f", spam ? "Yes" : "No",
             res->score, res->required);
    enum hdr_error herr;
    hdr_msg *m = hdr_parse(msg->data, msg->len, SMTP_RSPAMD_HDR_FIELDS,
                           SMTP_RSPAMD_HDR_FIELD_LEN, &herr);
    if (m == NULL)
        return -1;              /* the header section did not parse: no fields */
    for (size_t i = 0; i < sizeof smtp_rspamd_fields / sizeof smtp_rspamd_fields[0]; i++)
        (void)hdr_remove_all(m, smtp_rspamd_fields[i]);
    buf out;
    buf_init(&out, msg->max + SMTP_RSPAMD_RESULT_MAX + 512);
    int rc = hdr_add_top(m, "X-Spamd-Result", res->symbols) == 0 &&
             hdr_add_top(m, "X-Rspamd-Action", res->action) == 0 &&
             hdr_add_top(m, "X-Spam-Status", status) == 0 &&
             hdr_add_top(m, "X-Spam-Score", score) == 0 &&
             hdr_serialize(m, &out) == 0 ? 0 : -1;
    hdr_msg_free(m);
    if (rc != 0) {
        buf_release(&out);
        return -1;
    }
    buf_release(msg);
    *msg = out;
    return 0;
}

/* The request header lines for req (malloc'd into lines). Returns how many. */
static size_t smtp_rspamd_request_lines(const smtp_rspamd_req *req, char **lines,
                                        size_t max)
{
    size_t n = 0;
    char line[SMTP_RSPAMD_LINE_MAX];
#define SMTP_RSPAMD_ADD(...)                                                     \
    do {                                                                         \
        int w_ = snprintf(line, sizeof line, __VA_ARGS__);                       \
        if (w_ > 0 && (size_t)w_ < sizeof line && n < max &&                     \
            strpbrk(line, "\r\n") == NULL)                                       \
            lines[n++] = xstrdup(line);                                          \
    } while (0)
    if (req->ip != NULL && req->ip[0] != '\0')
        SMTP_RSPAMD_ADD("IP: %s", req->ip);
    if (req->helo != NULL && req->helo[0] != '\0')
        SMTP_RSPAMD_ADD("Helo: %s", req->helo);
    if (req->mail_from != NULL)
        SMTP_RSPAMD_ADD("From: <%s>", req->mail_from);
    for (size_t i = 0; i < req->nrcpts; i++)
        SMTP_RSPAMD_ADD("Rcpt: <%s>", req->rcpts[i]);
    if (req->queue_id != NULL && req->queue_id[0] != '\0')
        SMTP_RSPAMD_ADD("Queue-Id: %s", req->queue_id);
    if (req->user != NULL && req->user[0] != '\0')
        SMTP_RSPAMD_ADD("User: %s", req->user);
#undef SMTP_RSPAMD_ADD
    return n;
}

/* One /checkv2 round trip. 0 with res filled, -1 (logged) otherwise. */
static int smtp_rspamd_scan(smtp_rspamd *r, const smtp_rspamd_req *req, const buf *msg,
                            smtp_rspamd_result *res)
{
    size_t max = req->nrcpts + 6;
    char **lines = xcalloc(max, sizeof *lines);
    size_t n = smtp_rspamd_request_lines(req, lines, max);
    httpc *c = smtp_rspamd_client_get(r);
    httpc_result hr;
    memset(&hr, 0, sizeof hr);
    int rc = -1, sent = 0;
    if (c == NULL) {
        log_error("rspamd: cannot create an HTTP client", "queue_id",
                  req->queue_id ? req->queue_id : "");
    } else if (httpc_post_raw(c, "/checkv2", (const char *const *)lines, n, msg->data,
                              msg->len, &hr) != 0) {
        log_warn("rspamd unreachable", "url", r->url, "error", hr.error, "queue_id",
                 req->queue_id ? req->queue_id : "");
    } else {
        sent = 1;
        json_t *j = hr.json != NULL ? json_incref(hr.json)
                                    : json_loads(hr.body ? hr.body : "", 0, NULL);
        char status[16];
        snprintf(status, sizeof status, "%ld", hr.status);
        if (hr.status != 200)
            log_warn("rspamd answered with an error", "url", r->url, "status", status,
                     "queue_id", req->queue_id ? req->queue_id : "");
        else if (j == NULL || smtp_rspamd_parse(j, res) != 0)
            log_warn("rspamd reply not understood", "url", r->url, "queue_id",
                     req->queue_id ? req->queue_id : "");
        else
            rc = 0;
        json_decref(j);
    }
    smtp_rspamd_client_put(r, c, sent);
    httpc_result_free(&hr);
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
    return rc;
}

enum smtp_rspamd_verdict smtp_rspamd_message(smtp_rspamd *r, const smtp_rspamd_req *req,
                                             buf *msg, char *text, size_t textlen)
{
    smtp_rspamd_result res;
    const char *qid = req->queue_id != NULL ? req->queue_id : "";
    if (smtp_rspamd_scan(r, req, msg, &res) != 0) {
        smtp_rspamd_count(r, "error");
        if (r->fail_open) {
            log_warn("spam scan failed: message accepted unscanned (fail open)",
                     "queue_id", qid, "client", req->ip ? req->ip : "");
            return SMTP_RSPAMD_ACCEPT;
        }
        snprintf(text, textlen, "4.7.1 Error: spam scanning is unavailable, try again later");
        return SMTP_RSPAMD_TEMPFAIL;
    }
    char score[32];
    snprintf(score, sizeof score, "%.2f", res.score);
    int reject = r->have_reject_score ? res.score >= r->reject_score
                                      : strcmp(res.action, "reject") == 0;
    if (reject) {
        smtp_rspamd_count(r, "spam");
        log_info("message refused as spam", "queue_id", qid, "client", req->ip ? req->ip : "",
                 "from", req->mail_from ? req->mail_from : "", "score", score,
                 "action", res.action);
        snprintf(text, textlen, "5.7.1 Error: message rejected as spam (score %s)", score);
        return SMTP_RSPAMD_REJECT;
    }
    if (strcmp(res.action, "soft reject") == 0) {
        smtp_rspamd_count(r, "soft_reject");
        log_info("message deferred by the spam scanner", "queue_id", qid, "client",
                 req->ip ? req->ip : "", "score", score);
        snprintf(text, textlen, "4.7.1 Error: message deferred by the spam scanner, "
                 "try again later");
        return SMTP_RSPAMD_TEMPFAIL;
    }
    smtp_rspamd_count(r, "accepted");
    if (smtp_rspamd_headers_apply(&res, msg) != 0)
        log_warn("spam verdict fields not added (header section unusable or too large)",
                 "queue_id", qid);
    log_info("message scanned", "queue_id", qid, "score", score, "action", res.action);
    return SMTP_RSPAMD_ACCEPT;
}
