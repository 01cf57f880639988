/*
 * relay_tlsrpt.c - counting the TLS sessions of the mx transport for
 * TLS-RPT (RFC 8460, see relay_tlsrpt.h): classification of an attempt's
 * outcome and the upsert into relay.tlsrpt_results. Owns nothing beyond a
 * call (a pooled database connection while recording).
 */
#include "relay_tlsrpt.h"
#include "relay_dane.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "xalloc.h"

static void tlsrpt_receiver(const relay_outcome *o, char *host, size_t hostlen, char *ip,
                            size_t iplen);

const char *relay_tlsrpt_classify(const relay_outcome *o, int policy_sts, int policy_tlsa)
{
    const char *r = o->reply;

    if (o->tls[0] != '\0')
        return "";                                      /* a TLS session carried mail */
    if (strstr(r, "DNSSEC bogus") != NULL)
        return "dnssec-invalid";
    if (strstr(r, "matches none of its TLSA records") != NULL)
        return "tlsa-invalid";
    if (strstr(r, "does not offer STARTTLS") != NULL || strstr(r, "STARTTLS was refused") != NULL)
        return "starttls-not-supported";
    if (strstr(r, "MTA-STS policy of") != NULL)
        return "validation-failure";                    /* no MX host allowed */
    if (strstr(r, "TLS is required with a verified certificate") != NULL) {
        if (strstr(r, "certificate has expired") != NULL)
            return "certificate-expired";
        if (strstr(r, "hostname mismatch") != NULL || strstr(r, "Hostname mismatch") != NULL)
            return "certificate-host-mismatch";
        return "certificate-not-trusted";
    }
    if (strstr(r, "handshake failed") != NULL)
        return "validation-failure";
    /* delivered (or refused by the server) in plain text */
    if (o->host[0] != '\0' && o->code >= 200 && !policy_sts && !policy_tlsa)
        return "starttls-not-supported";
    return NULL;
}

void relay_tlsrpt_note(relay_state *st, const char *domain, const struct relay_dane *dane,
                       const relay_sts_policy *sts, const relay_outcome *out, size_t n)
{
    char day[16], host[256] = "", ip[64] = "", reason[RELAY_TLSRPT_REASON_MAX];
    int is_tlsa = relay_dane_active(dane);
    int is_sts = !is_tlsa && sts != NULL && sts->mode != RELAY_STS_NONE;
    /* an announced MTA-STS policy that could not be had is the failure of
     * this attempt (RFC 8460 §4.3.1), whatever the session did next */
    int sts_failed = !is_tlsa && !is_sts && sts != NULL && sts->failure != NULL;

    if (!st->tlsrpt_on || st->db == NULL || n == 0)
        return;
    const char *rt = sts_failed ? sts->failure : relay_tlsrpt_classify(&out[0], is_sts, is_tlsa);
    if (rt == NULL)
        return;
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm) == NULL || strftime(day, sizeof(day), "%Y-%m-%d", &tm) == 0)
        return;
    json_t *ps = json_array(), *mxh = json_array();
    if (is_tlsa) {
        relay_dane_policy_strings(dane, ps);
    } else if (is_sts) {
        char line[300];
        json_array_append_new(ps, json_string("version: STSv1"));
        json_array_append_new(ps, json_string(sts->mode == RELAY_STS_ENFORCE ? "mode: enforce"
                                                                             : "mode: testing"));
        for (size_t i = 0; i < sts->nmx; i++) {
            snprintf(line, sizeof(line), "mx: %s", sts->mx[i]);
            json_array_append_new(ps, json_string(line));
            json_array_append_new(mxh, json_string(sts->mx[i]));
        }
        snprintf(line, sizeof(line), "max_age: %ld", sts->max_age);
        json_array_append_new(ps, json_string(line));
    }
    reason[0] = '\0';
    if (rt[0] != '\0') {
        if (!sts_failed)
            tlsrpt_receiver(&out[0], host, sizeof(host), ip, sizeof(ip));
        /* keep the reason short and free of per-message detail */
        const char *r = sts_failed ? sts->failure_why : out[0].reply;
        size_t k = 0;
        for (; r[k] != '\0' && k + 1 < sizeof(reason); k++)
            reason[k] = (r[k] >= 32 && r[k] < 127) ? r[k] : ' ';
        reason[k] = '\0';
    }
    char *pstr = json_dumps(ps, JSON_COMPACT), *mstr = json_dumps(mxh, JSON_COMPACT);
    json_decref(ps);
    json_decref(mxh);
    const char *ptype = is_tlsa ? "tlsa" : is_sts || sts_failed ? "sts" : "no-policy-found";
    db_conn *c = db_pool_acquire(st->db, 2000);
    if (c != NULL && pstr != NULL && mstr != NULL) {
        PGresult *r = db_queryv(c,
            "INSERT INTO relay.tlsrpt_results (day, policy_domain, policy_type, policy_string,"
            " mx_host, result_type, receiving_mx_hostname, receiving_ip, failure_reason,"
            " sessions) VALUES ($1, lower($2), $3, $4::jsonb, $5::jsonb, $6, $7, $8, $9, 1)"
            " ON CONFLICT (day, policy_domain, policy_type, result_type, receiving_mx_hostname,"
            " receiving_ip, failure_reason) DO UPDATE SET sessions ="
            " relay.tlsrpt_results.sessions + 1, policy_string = EXCLUDED.policy_string,"
            " mx_host = EXCLUDED.mx_host, updated_at = now()",
            9, day, domain, ptype, pstr, mstr, rt, host, ip, reason);
        if (r == NULL)
            log_warn("TLS-RPT: recording a session failed", "domain", domain,
                     "error", db_conn_error(c));
        PQclear(r);
    } else if (c == NULL) {
        log_warn("TLS-RPT: no database connection; session not counted", "domain", domain);
    }
    if (c != NULL)
        db_pool_release(st->db, c);
    free(pstr);
    free(mstr);
}

/* "mx.example[192.0.2.1]:25" from the outcome's host, or from the last
 * "HOST[IP]:PORT: ..." in its reply ("no MX host ... answered: ..."). */
static void tlsrpt_receiver(const relay_outcome *o, char *host, size_t hostlen, char *ip,
                            size_t iplen)
{
    const char *s = o->host;
    if (s[0] == '\0') {
        const char *a = strstr(o->reply, "answered: ");
        if (a == NULL)
            return;
        s = a + strlen("answered: ");
    }
    const char *lb = strchr(s, '['), *rb = lb != NULL ? strchr(lb, ']') : NULL;
    if (lb == NULL || rb == NULL || (size_t)(lb - s) >= hostlen || (size_t)(rb - lb - 1) >= iplen)
        return;
    for (const char *p = s; p < lb; p++)
        if (*p == ' ' || *p == ':')
            return;
    memcpy(host, s, (size_t)(lb - s));
    host[lb - s] = '\0';
    memcpy(ip, lb + 1, (size_t)(rb - lb - 1));
    ip[rb - lb - 1] = '\0';
}
