/*
 * smtp_auth.c - mx's sender authentication step: configuration, the shared
 * resolver, the Authentication-Results rewrite and the DMARC policy
 * decision. See smtp_auth.h; the checks themselves are libcommon/auth.c.
 *
 * SECURITY: the message is peer input; it is parsed with the header
 * parser's limits, and when it cannot be parsed it is stored unchanged
 * apart from our header on top. Rejections depend only on the DMARC
 * result and our configuration.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "auth.h"
#include "authres.h"
#include "dns.h"
#include "hdr.h"
#include "log.h"
#include "xalloc.h"
#include "smtp_auth.h"

#define SMTP_AUTH_MAX_FIELDS    1000
#define SMTP_AUTH_MAX_FIELD_LEN (64 * 1024)
#define SMTP_AUTH_LIST_MAX      1024      /* entries in each configured list */
#define SMTP_AUTH_DOMAIN_MAX    255

typedef struct smtp_auth_domain {
    char name[SMTP_AUTH_DOMAIN_MAX + 1];
    int  reject;                          /* policy map: 1 reject, 0 record */
} smtp_auth_domain;

struct smtp_auth {
    dns_resolver     *dns;
    char              authserv_id[SMTP_AUTH_DOMAIN_MAX + 1];
    int               reject_default;
    smtp_auth_domain *map;                /* owned, nmap entries */
    size_t            nmap;
    smtp_auth_domain *sealers;            /* owned, nsealers entries */
    size_t            nsealers;
    metrics_family   *m_results;          /* mailyard_auth_results_total */
};

static int  smtp_auth_list_parse(const char *spec, int with_policy, smtp_auth_domain **out,
                                 size_t *n, char *err, size_t errlen);
static int  smtp_auth_reject_mode(const smtp_auth *a, char *const *rcpts, size_t nrcpts);
static int  smtp_auth_trusted_arc(const smtp_auth *a, const auth_results *r);
static int  smtp_auth_rebuild(const smtp_auth *a, buf *msg, const char *header);

/* Parses "a.example,b.example" or, with_policy, "a.example=reject,...".
 * Names are lower-cased, a trailing dot dropped. */
static int smtp_auth_list_parse(const char *spec, int with_policy, smtp_auth_domain **out,
                                size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    const char *p = spec;
    while (*p != '\0') {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            break;
        size_t len = strcspn(p, ",");
        const char *item = p;
        p += len;
        while (len > 0 && (item[len - 1] == ' ' || item[len - 1] == '\t'))
            len--;
        if (*n >= SMTP_AUTH_LIST_MAX) {
            snprintf(err, errlen, "too many entries (at most %d)", SMTP_AUTH_LIST_MAX);
            goto fail;
        }
        size_t dlen = len;
        int reject = 0;
        if (with_policy) {
            const char *eq = memchr(item, '=', len);
            if (eq == NULL) {
                snprintf(err, errlen, "entry without =reject or =record");
                goto fail;
            }
            dlen = (size_t)(eq - item);
            size_t plen = len - dlen - 1;
            if (plen == 6 && strncasecmp(eq + 1, "reject", 6) == 0)
                reject = 1;
            else if (!(plen == 6 && strncasecmp(eq + 1, "record", 6) == 0)) {
                snprintf(err, errlen, "policy must be reject or record");
                goto fail;
            }
        }
        if (dlen > 0 && item[dlen - 1] == '.')
            dlen--;
        if (dlen == 0 || dlen > SMTP_AUTH_DOMAIN_MAX) {
            snprintf(err, errlen, "empty or over-long domain");
            goto fail;
        }
        smtp_auth_domain *grown = realloc(*out, (*n + 1) * sizeof **out);
        if (grown == NULL)
            panic("out of memory");
        *out = grown;
        smtp_auth_domain *d = &(*out)[*n];
        for (size_t i = 0; i < dlen; i++) {
            unsigned char ch = (unsigned char)item[i];
            if (ch <= ' ' || ch == '=' || ch >= 0x7f) {
                snprintf(err, errlen, "bad character in a domain");
                goto fail;
            }
            d->name[i] = (char)tolower(ch);
        }
        d->name[dlen] = '\0';
        d->reject = reject;
        (*n)++;
    }
    return 0;
fail:
    free(*out);
    *out = NULL;
    *n = 0;
    return -1;
}

int smtp_auth_create(const config *cfg, const char *hostname, metrics_registry *mr,
                     smtp_auth **out, char *err, size_t errlen)
{
    *out = NULL;
    const char *onoff = config_get(cfg, "MAILYARD_MX_AUTH", "on");
    if (strcasecmp(onoff, "off") == 0)
        return 0;
    if (strcasecmp(onoff, "on") != 0) {
        snprintf(err, errlen, "MAILYARD_MX_AUTH must be on or off");
        return -1;
    }
    const char *policy = config_get(cfg, "MAILYARD_MX_DMARC_POLICY", "record");
    if (strcmp(policy, "record") != 0 && strcmp(policy, "reject") != 0) {
        snprintf(err, errlen, "MAILYARD_MX_DMARC_POLICY must be record or reject");
        return -1;
    }
    long timeout = config_get_long(cfg, "MAILYARD_DNS_TIMEOUT_MS", 5000);
    if (timeout < 100 || timeout > 60000) {
        snprintf(err, errlen, "MAILYARD_DNS_TIMEOUT_MS must be 100..60000");
        return -1;
    }
    smtp_auth *a = xcalloc(1, sizeof *a);
    a->reject_default = strcmp(policy, "reject") == 0;
    const char *id = config_get(cfg, "MAILYARD_MX_AUTHSERV_ID", "");
    if (*id == '\0')
        id = hostname;
    char lerr[128];
    if (str_copy(a->authserv_id, sizeof a->authserv_id, id) != 0) {
        snprintf(err, errlen, "MAILYARD_MX_AUTHSERV_ID is too long");
        goto fail;
    }
    if (smtp_auth_list_parse(config_get(cfg, "MAILYARD_MX_DMARC_POLICY_MAP", ""), 1,
                             &a->map, &a->nmap, lerr, sizeof lerr) != 0) {
        snprintf(err, errlen, "MAILYARD_MX_DMARC_POLICY_MAP: %s", lerr);
        goto fail;
    }
    if (smtp_auth_list_parse(config_get(cfg, "MAILYARD_MX_ARC_TRUSTED_SEALERS", ""), 0,
                             &a->sealers, &a->nsealers, lerr, sizeof lerr) != 0) {
        snprintf(err, errlen, "MAILYARD_MX_ARC_TRUSTED_SEALERS: %s", lerr);
        goto fail;
    }
    char derr[256];
    a->dns = dns_resolver_create_unbound(config_get(cfg, "MAILYARD_DNS_SERVERS", ""),
                                         (int)timeout, NULL, derr, sizeof derr);
    if (a->dns == NULL) {
        snprintf(err, errlen, "DNS resolver: %s", derr);
        goto fail;
    }
    static const char *const labels[] = { "method", "result", NULL };
    a->m_results = metrics_counter(mr, "mailyard_auth_results_total",
                                   "sender authentication results of received messages, "
                                   "by method (spf, dkim, dmarc, arc) and result", labels);
    log_info("sender authentication on", "authserv_id", a->authserv_id,
             "dmarc_policy", policy);
    *out = a;
    return 0;
fail:
    smtp_auth_free(a);
    return -1;
}

dns_resolver *smtp_auth_resolver(const smtp_auth *a)
{
    return a->dns;
}

const char *smtp_auth_authserv_id(const smtp_auth *a)
{
    return a->authserv_id;
}

void smtp_auth_free(smtp_auth *a)
{
    if (a == NULL)
        return;
    dns_resolver_free(a->dns);
    free(a->map);
    free(a->sealers);
    free(a);
}

/* 1 when at least one recipient's domain is in reject mode. */
static int smtp_auth_reject_mode(const smtp_auth *a, char *const *rcpts, size_t nrcpts)
{
    for (size_t i = 0; i < nrcpts; i++) {
        const char *at = strrchr(rcpts[i], '@');
        const char *dom = at != NULL ? at + 1 : "";
        int reject = a->reject_default;
        for (size_t k = 0; k < a->nmap; k++) {
            if (strcasecmp(a->map[k].name, dom) == 0) {
                reject = a->map[k].reject;
                break;
            }
        }
        if (reject)
            return 1;
    }
    return 0;
}

/* 1 when the ARC chain validates and its newest sealer is trusted. */
static int smtp_auth_trusted_arc(const smtp_auth *a, const auth_results *r)
{
    if (strcmp(r->arc.cv, "pass") != 0)
        return 0;
    for (size_t k = 0; k < a->nsealers; k++)
        if (strcasecmp(a->sealers[k].name, r->arc.domain) == 0)
            return 1;
    return 0;
}

/* Removes our old Authentication-Results and puts header on top. */
static int smtp_auth_rebuild(const smtp_auth *a, buf *msg, const char *header)
{
    buf out;
    buf_init(&out, msg->max + AUTHRES_MAX_LEN + 64);
    enum hdr_error herr;
    hdr_msg *m = hdr_parse(msg->data, msg->len, SMTP_AUTH_MAX_FIELDS,
                           SMTP_AUTH_MAX_FIELD_LEN, &herr);
    int rc;
    if (m != NULL) {
        size_t removed = authres_remove_ours(m, a->authserv_id);
        if (removed > 0)
            log_info("removed Authentication-Results claiming our authserv-id",
                     "authserv_id", a->authserv_id);
        rc = hdr_add_top(m, "Authentication-Results", header) == 0 &&
             hdr_serialize(m, &out) == 0 ? 0 : -1;
        hdr_msg_free(m);
    } else {
        /* not a parsable header section: keep the bytes, ours on top */
        rc = buf_printf(&out, "Authentication-Results: %s\r\n", header) == 0 &&
             buf_append(&out, msg->data, msg->len) == 0 ? 0 : -1;
    }
    if (rc != 0) {
        buf_release(&out);
        return -1;
    }
    buf_release(msg);
    *msg = out;
    return 0;
}

int smtp_auth_message(smtp_auth *a, const char *ip, const char *helo,
                      const char *mail_from, char *const *rcpts, size_t nrcpts,
                      buf *msg, smtp_auth_outcome *out)
{
    memset(out, 0, sizeof *out);
    out->verdict = SMTP_AUTH_ACCEPT;
    auth_results r;
    memset(&r, 0, sizeof r);
    auth_input in = {
        .ip = ip, .helo = helo, .mail_from = mail_from,
        .msg = msg->data != NULL ? msg->data : "", .len = msg->len,
        .authserv_id = a->authserv_id, .now = time(NULL), .methods = AUTH_ALL, .fold = 1,
    };
    if (auth_check(a->dns, &in, &r) != 0) {
        log_warn("sender authentication not possible", "client", ip);
        return 0;
    }
    out->checked = 1;
    (void)str_copy(out->spf, sizeof out->spf, auth_spf_text(&r));
    (void)str_copy(out->dkim, sizeof out->dkim, auth_dkim_text(&r));
    (void)str_copy(out->dmarc, sizeof out->dmarc, auth_dmarc_text(&r));
    (void)str_copy(out->arc, sizeof out->arc, auth_arc_text(&r));
    (void)str_copy(out->dmarc_domain, sizeof out->dmarc_domain, r.dmarc.from_domain);
    if (a->m_results != NULL) {
        metrics_counter_inc(a->m_results, "spf", out->spf);
        metrics_counter_inc(a->m_results, "dkim", out->dkim);
        metrics_counter_inc(a->m_results, "dmarc", out->dmarc);
        metrics_counter_inc(a->m_results, "arc", out->arc);
    }
    int reject_mode = smtp_auth_reject_mode(a, rcpts, nrcpts);
    int vouched = smtp_auth_trusted_arc(a, &r);
    if (reject_mode && !vouched) {
        if (r.dmarc.result == DMARC_FAIL && r.dmarc.policy == DMARC_P_REJECT)
            out->verdict = SMTP_AUTH_REJECT;
        else if (r.dmarc.result == DMARC_TEMPERROR &&
                 (r.dmarc.policy == DMARC_P_REJECT || r.dmarc.policy == DMARC_P_UNSET))
            out->verdict = SMTP_AUTH_TEMPFAIL;
    } else if (reject_mode && r.dmarc.result == DMARC_FAIL &&
               r.dmarc.policy == DMARC_P_REJECT) {
        log_info("DMARC failure accepted: trusted ARC sealer", "client", ip,
                 "sealer", r.arc.domain, "from_domain", r.dmarc.from_domain);
    }
    int rc = smtp_auth_rebuild(a, msg, r.header);
    auth_results_release(&r);
    return rc;
}
