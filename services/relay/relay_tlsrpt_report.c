/*
 * relay_tlsrpt_report.c - the daily TLS-RPT reports (RFC 8460 §4, §5, see
 * relay_tlsrpt.h): the JSON report built from relay.tlsrpt_results, rua
 * discovery (TXT _smtp._tls.<domain>), gzip, and delivery to https: (POST
 * application/tlsrpt+gzip) and mailto: (a message into the pipeline).
 *
 * Owns: the report JSON, its gzip and MIME renderings and the curl handle
 * of one send; the relay.tlsrpt_reports row claimed for a (day, domain).
 */
#include "relay_tlsrpt.h"
#include "relay_dns.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zlib.h>

#include "addr.h"
#include "buf.h"
#include "log.h"
#include "spool.h"
#include "xalloc.h"

static int  rpt_gzip(const char *in, size_t len, unsigned char **out, size_t *outlen);
static int  rpt_send_https(relay_state *st, const char *uri, const unsigned char *gz,
                           size_t gzlen, char *why, size_t whylen);
static int  rpt_send_mailto(relay_state *st, db_conn *c, const char *uri, const char *domain,
                            const char *day, const char *report_id, const unsigned char *gz,
                            size_t gzlen, char *why, size_t whylen);
static void rpt_fmt(char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

size_t relay_tlsrpt_rua_parse(const char *txt, char (*rua)[RELAY_TLSRPT_URI_MAX], size_t max)
{
    size_t n = 0;

    if (strncmp(txt, "v=TLSRPTv1", 10) != 0 || (txt[10] != ';' && txt[10] != ' ' &&
                                                 txt[10] != '\0'))
        return 0;
    const char *p = strstr(txt, "rua=");
    if (p == NULL)
        return 0;
    p += 4;
    while (*p != '\0' && *p != ';' && n < max) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t k = 0;
        while (p[k] != '\0' && p[k] != ',' && p[k] != ';' && p[k] != ' ')
            k++;
        if (k > 0 && k < RELAY_TLSRPT_URI_MAX &&
            (strncasecmp(p, "https://", 8) == 0 || strncasecmp(p, "mailto:", 7) == 0)) {
            memcpy(rua[n], p, k);
            rua[n][k] = '\0';
            n++;
        }
        p += k;
        while (*p == ' ')
            p++;
    }
    return n;
}

int relay_tlsrpt_report_build(db_conn *c, const char *org, const char *contact,
                              const char *day, const char *domain, const char *report_id,
                              json_t **out)
{
    *out = NULL;
    PGresult *r = db_queryv(c,
        "SELECT policy_type, policy_string::text, mx_host::text, result_type,"
        " receiving_mx_hostname, receiving_ip, failure_reason, sessions"
        " FROM relay.tlsrpt_results WHERE day = $1::date AND policy_domain = lower($2)"
        " ORDER BY policy_type, result_type, receiving_mx_hostname, receiving_ip",
        2, day, domain);
    if (r == NULL) {
        log_error("TLS-RPT: reading results failed", "error", db_conn_error(c));
        return -1;
    }
    int rows = PQntuples(r);
    if (rows == 0) {
        PQclear(r);
        return 1;
    }
    char start[40], end[40];
    rpt_fmt(start, sizeof(start), "%sT00:00:00Z", day);
    rpt_fmt(end, sizeof(end), "%sT23:59:59Z", day);
    json_t *policies = json_array(), *cur = NULL;
    const char *cur_type = "";
    for (int i = 0; i < rows; i++) {
        const char *ptype = PQgetvalue(r, i, 0), *rt = PQgetvalue(r, i, 3);
        json_int_t count = strtoll(PQgetvalue(r, i, 7), NULL, 10);
        if (cur == NULL || strcmp(cur_type, ptype) != 0) {
            json_t *pol = json_pack("{s:s, s:o, s:s}", "policy-type", ptype, "policy-string",
                                    json_loads(PQgetvalue(r, i, 1), 0, NULL),
                                    "policy-domain", domain);
            if (pol == NULL)
                pol = json_pack("{s:s, s:[], s:s}", "policy-type", ptype, "policy-string",
                                "policy-domain", domain);
            if (strcmp(ptype, "sts") == 0) {
                json_t *mx = json_loads(PQgetvalue(r, i, 2), 0, NULL);
                json_object_set_new(pol, "mx-host", mx != NULL ? mx : json_array());
            }
            cur = json_pack("{s:o, s:{s:I, s:I}, s:[]}", "policy", pol, "summary",
                            "total-successful-session-count", (json_int_t)0,
                            "total-failure-session-count", (json_int_t)0, "failure-details");
            json_array_append_new(policies, cur);
            cur_type = ptype;
        }
        json_t *sum = json_object_get(cur, "summary");
        const char *key = rt[0] == '\0' ? "total-successful-session-count"
                                        : "total-failure-session-count";
        json_object_set_new(sum, key, json_integer(json_integer_value(json_object_get(sum, key))
                                                   + count));
        if (rt[0] == '\0')
            continue;
        json_t *fd = json_pack("{s:s, s:I}", "result-type", rt, "failed-session-count", count);
        if (PQgetvalue(r, i, 4)[0] != '\0')
            json_object_set_new(fd, "receiving-mx-hostname", json_string(PQgetvalue(r, i, 4)));
        if (PQgetvalue(r, i, 5)[0] != '\0')
            json_object_set_new(fd, "receiving-ip", json_string(PQgetvalue(r, i, 5)));
        if (PQgetvalue(r, i, 6)[0] != '\0')
            json_object_set_new(fd, "failure-reason-code", json_string(PQgetvalue(r, i, 6)));
        json_array_append_new(json_object_get(cur, "failure-details"), fd);
    }
    PQclear(r);
    *out = json_pack("{s:s, s:{s:s, s:s}, s:s, s:s, s:o}", "organization-name", org,
                     "date-range", "start-datetime", start, "end-datetime", end,
                     "contact-info", contact, "report-id", report_id, "policies", policies);
    return *out != NULL ? 0 : -1;
}

int relay_tlsrpt_send_day(relay_state *st, db_conn *c, const char *day, int force,
                          json_t *summary)
{
    PGresult *r = db_queryv(c, "SELECT DISTINCT policy_domain FROM relay.tlsrpt_results"
                               " WHERE day = $1::date ORDER BY 1", 1, day);
    if (r == NULL) {
        log_error("TLS-RPT: listing domains failed", "error", db_conn_error(c));
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *domain = PQgetvalue(r, i, 0);
        unsigned char rnd[8];
        char report_id[400], txtname[300], err[256], detail[1024] = "", rua_all[1024] = "";
        char ruas[RELAY_TLSRPT_MAX_RUA][RELAY_TLSRPT_URI_MAX];
        char txt[4][RELAY_DNS_TXT_MAX];
        size_t ntxt = 0, nrua = 0;

        if (RAND_bytes(rnd, sizeof(rnd)) != 1)
            memset(rnd, 0, sizeof(rnd));
        rpt_fmt(report_id, sizeof(report_id), "%s.%s.%02x%02x%02x%02x%02x%02x%02x%02x@%s", day,
                domain, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7],
                st->hostname);
        if (force)
            PQclear(db_queryv(c, "DELETE FROM relay.tlsrpt_reports WHERE day = $1::date"
                                 " AND policy_domain = $2", 2, day, domain));
        PGresult *claim = db_queryv(c, "INSERT INTO relay.tlsrpt_reports (day, policy_domain,"
                                       " report_id) VALUES ($1::date, $2, $3)"
                                       " ON CONFLICT (day, policy_domain) DO NOTHING", 3,
                                    day, domain, report_id);
        if (claim == NULL) {
            rc = -1;
            break;
        }
        int claimed = atoi(PQcmdTuples(claim)) == 1;
        PQclear(claim);
        if (!claimed)
            continue;                                    /* sent already (or by a peer) */
        json_t *rep = NULL;
        if (relay_tlsrpt_report_build(c, st->tlsrpt_org, st->tlsrpt_contact, day, domain,
                                      report_id, &rep) != 0) {
            rc = -1;
            break;
        }
        rpt_fmt(txtname, sizeof(txtname), "_smtp._tls.%s", domain);
        if (st->dns != NULL &&
            relay_dns_txt(st->dns, txtname, txt, 4, &ntxt, err, sizeof(err)) == RELAY_DNS_OK)
            for (size_t t = 0; t < ntxt && nrua == 0; t++)
                nrua = relay_tlsrpt_rua_parse(txt[t], ruas, RELAY_TLSRPT_MAX_RUA);
        const char *state = "no-rua";
        if (nrua > 0) {
            char *js = json_dumps(rep, JSON_COMPACT);
            unsigned char *gz = NULL;
            size_t gzlen = 0, ok = 0, dl = 0;
            if (js == NULL || rpt_gzip(js, strlen(js), &gz, &gzlen) != 0) {
                rpt_fmt(detail, sizeof(detail), "cannot compress the report");
            } else {
                for (size_t k = 0; k < nrua; k++) {
                    char why[300] = "";
                    int sent = strncasecmp(ruas[k], "https://", 8) == 0
                        ? rpt_send_https(st, ruas[k], gz, gzlen, why, sizeof(why))
                        : rpt_send_mailto(st, c, ruas[k], domain, day, report_id, gz, gzlen,
                                          why, sizeof(why));
                    ok += sent == 0;
                    size_t rl = strlen(rua_all);
                    rpt_fmt(rua_all + rl, sizeof(rua_all) - rl, "%s%s", rl ? "," : "", ruas[k]);
                    dl = strlen(detail);
                    rpt_fmt(detail + dl, sizeof(detail) - dl, "%s%s: %s", dl ? "; " : "",
                            ruas[k], sent == 0 ? "sent" : why);
                }
            }
            free(js);
            free(gz);
            state = ok > 0 ? "sent" : "failed";
        } else {
            rpt_fmt(detail, sizeof(detail), "no TLSRPTv1 record with an https: or mailto: rua "
                    "at %s", txtname);
        }
        PQclear(db_queryv(c, "UPDATE relay.tlsrpt_reports SET state = $2, rua = $3,"
                             " detail = $4, updated_at = now() WHERE report_id = $1", 4,
                          report_id, state, rua_all, detail));
        log_info("TLS-RPT report", "domain", domain, "day", day, "report_id", report_id,
                 "state", state, "detail", detail);
        json_t *item = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "domain", domain,
                                 "report_id", report_id, "state", state, "rua", rua_all,
                                 "detail", detail, "report", rep);
        if (item != NULL)
            json_array_append_new(summary, item);
        else
            json_decref(rep);
    }
    PQclear(r);
    return rc;
}

/* gzip (RFC 1952) of in[0..len) into a malloc'd *out. */
static int rpt_gzip(const char *in, size_t len, unsigned char **out, size_t *outlen)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    size_t cap = deflateBound(&z, (uLong)len) + 64;
    *out = xmalloc(cap);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = *out;
    z.avail_out = (uInt)cap;
    int zr = deflate(&z, Z_FINISH);
    *outlen = cap - z.avail_out;
    deflateEnd(&z);
    if (zr != Z_STREAM_END) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

static size_t rpt_discard(char *ptr, size_t size, size_t nmemb, void *arg)
{
    (void)ptr;
    (void)arg;
    return size * nmemb;
}

/* POST to an https: rua (RFC 8460 §3): the host resolved with the relay's
 * resolver (CURLOPT_RESOLVE), verified certificate, no redirects. */
static int rpt_send_https(relay_state *st, const char *uri, const unsigned char *gz,
                          size_t gzlen, char *why, size_t whylen)
{
    char *host = NULL, *port = NULL, resolve[400] = "", err[256];
    relay_addr addrs[RELAY_DNS_MAX_ADDRS];
    size_t naddrs = 0;
    int rc = -1;
    long status = 0, portnum = 443;
    struct curl_slist *hdrs = NULL, *res = NULL;
    CURL *c = NULL;
    CURLU *u = curl_url();

    if (u == NULL || curl_url_set(u, CURLUPART_URL, uri, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        rpt_fmt(why, whylen, "bad URI");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK && port != NULL)
        portnum = strtol(port, NULL, 10);
    unsigned char tmp[16];
    int literal = host[0] == '[' || inet_pton(AF_INET, host, tmp) == 1;
    if (!literal && st->dns != NULL) {
        if (relay_dns_addrs(st->dns, host, (int)portnum, addrs, &naddrs, err, sizeof(err)) !=
                RELAY_DNS_OK || naddrs == 0) {
            rpt_fmt(why, whylen, "resolving %s: %s", host, naddrs == 0 ? err : "no address");
            goto out;
        }
        int v6 = addrs[0].sa.ss_family == AF_INET6;
        rpt_fmt(resolve, sizeof(resolve), "%s:%ld:%s%s%s", host, portnum, v6 ? "[" : "",
                addrs[0].text, v6 ? "]" : "");
        res = curl_slist_append(NULL, resolve);
    }
    hdrs = curl_slist_append(NULL, "Content-Type: application/tlsrpt+gzip");
    c = curl_easy_init();
    char ebuf[CURL_ERROR_SIZE] = "";
    if (c == NULL || hdrs == NULL ||
        curl_easy_setopt(c, CURLOPT_URL, uri) != CURLE_OK ||
        (res != NULL && curl_easy_setopt(c, CURLOPT_RESOLVE, res) != CURLE_OK) ||
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
        (st->ca_file != NULL && curl_easy_setopt(c, CURLOPT_CAINFO, st->ca_file) != CURLE_OK) ||
        curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)st->timeout_s) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_USERAGENT, "mailyard-relay") != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)gz) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)gzlen) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, rpt_discard) != CURLE_OK) {
        rpt_fmt(why, whylen, "curl setup failed");
        goto out;
    }
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        rpt_fmt(why, whylen, "%s", ebuf[0] ? ebuf : curl_easy_strerror(cc));
        goto out;
    }
    (void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        rpt_fmt(why, whylen, "HTTP status %ld", status);
        goto out;
    }
    rc = 0;
out:
    if (c != NULL)
        curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    curl_slist_free_all(res);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

/* A mailto: rua (RFC 8460 §5.3): a multipart/report message with the
 * gzipped report, queued like a DSN (spool + rewrite job, published by the
 * sweeper). */
static int rpt_send_mailto(relay_state *st, db_conn *c, const char *uri, const char *domain,
                           const char *day, const char *report_id, const unsigned char *gz,
                           size_t gzlen, char *why, size_t whylen)
{
    char to[RELAY_TLSRPT_URI_MAX], date[64], boundary[64], msgid[512], fname[600];
    const char *a = uri + 7;
    size_t k = 0;

    for (; a[k] != '\0' && a[k] != '?' && k + 1 < sizeof(to); k++)
        to[k] = a[k];
    to[k] = '\0';
    char path[RELAY_TLSRPT_URI_MAX + 2], parsed[RELAY_TLSRPT_URI_MAX];
    size_t used = 0;
    rpt_fmt(path, sizeof(path), "<%s>", to);
    if (addr_parse_path(path, 0, parsed, sizeof(parsed), &used) != ADDR_OK ||
        used != strlen(path) || strchr(to, '"') != NULL) {
        rpt_fmt(why, whylen, "bad address");
        return -1;
    }
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm) == NULL ||
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm) == 0)
        return -1;
    unsigned char rnd[8];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        memset(rnd, 0, sizeof(rnd));
    rpt_fmt(boundary, sizeof(boundary), "=_tlsrpt_%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0],
            rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    rpt_fmt(msgid, sizeof(msgid), "<tlsrpt.%s>", report_id);
    rpt_fmt(fname, sizeof(fname), "%s!%s!%sT00:00:00Z!%sT23:59:59Z!%s.json.gz", st->hostname,
            domain, day, day, report_id);
    size_t b64cap = 4 * ((gzlen + 2) / 3) + 1;
    unsigned char *b64 = xmalloc(b64cap);
    int b64len = EVP_EncodeBlock(b64, gz, (int)gzlen);
    buf *b = buf_create(b64cap + b64cap / 76 * 2 + 4096);
    char head[4096];
    rpt_fmt(head, sizeof(head),
            "From: TLS reporting <%s>\r\nTo: <%s>\r\nDate: %s\r\nMessage-ID: %s\r\n"
            "Subject: Report Domain: %s Submitter: %s Report-ID: <%s>\r\n"
            "TLS-Report-Domain: %s\r\nTLS-Report-Submitter: %s\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n"
            "\tboundary=\"%s\"\r\n\r\n"
            "--%s\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
            "This is an aggregate TLS report (RFC 8460) from %s for %s, %s.\r\n\r\n"
            "--%s\r\nContent-Type: application/tlsrpt+gzip\r\n"
            "Content-Transfer-Encoding: base64\r\n"
            "Content-Disposition: attachment;\r\n\tfilename=\"%s\"\r\n\r\n",
            st->tlsrpt_from, to, date, msgid, domain, st->tlsrpt_org, report_id, domain,
            st->tlsrpt_org, boundary, boundary, st->tlsrpt_org, domain, day, boundary, fname);
    int ok = buf_append(b, head, strlen(head)) == 0;
    for (int i = 0; ok && i < b64len; i += 76) {
        int l = b64len - i < 76 ? b64len - i : 76;
        ok = buf_append(b, (const char *)b64 + i, (size_t)l) == 0 &&
             buf_append(b, "\r\n", 2) == 0;
    }
    char tail[128];
    rpt_fmt(tail, sizeof(tail), "\r\n--%s--\r\n", boundary);
    ok = ok && buf_append(b, tail, strlen(tail)) == 0;
    free(b64);
    if (!ok) {
        buf_free(b);
        rpt_fmt(why, whylen, "report too large");
        return -1;
    }
    char *rcpt = to;
    spool_message m;
    memset(&m, 0, sizeof(m));
    m.mail_from = st->tlsrpt_from;
    m.rcpts = &rcpt;
    m.nrcpts = 1;
    m.message_id = msgid;
    m.origin = "tlsrpt";
    m.raw = b->data;
    m.raw_len = b->len;
    int rc = spool_message_insert(c, &m);
    buf_free(b);
    if (rc != 0) {
        rpt_fmt(why, whylen, "spool: %s", db_conn_error(c));
        return -1;
    }
    json_t *payload = json_object();
    spool_jobs jobs;
    memset(&jobs, 0, sizeof(jobs));
    int64_t job = spool_job_create(c, "rewrite", m.id, payload, 0, &jobs);
    json_decref(payload);
    spool_jobs_release(&jobs);
    if (job < 0) {
        rpt_fmt(why, whylen, "spool job: %s", db_conn_error(c));
        return -1;
    }
    log_info("TLS-RPT report queued for mail", "queue_id", m.queue_id, "to", to);
    return 0;
}

/* snprintf where truncation is intended. */
static void rpt_fmt(char *out, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(out, len, fmt, ap);
    va_end(ap);
}
