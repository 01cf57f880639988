/*
 * dsn.c - delivery status notifications (see dsn.h): renders an RFC 3464
 * multipart/report (RFC 6522, report-type=delivery-status) with a human
 * readable part, the machine readable message/delivery-status part and the
 * original (message/rfc822, or text/rfc822-headers above 64 KiB), and
 * queues it as a new spool message with a rewrite job.
 *
 * SECURITY: recipients, diagnostics and remote names come from remote
 * servers and our own stages; every value written into a header or a DSN
 * field has CR, LF and other control characters replaced by spaces and is
 * length-capped, so nothing can inject fields or MIME boundaries.
 * STANDARDS: RFC 3464, RFC 6522 (was 3462), RFC 3834 (Auto-Submitted),
 * RFC 5322, RFC 2046.
 *
 * Ownership: dsn_build() appends to the caller's buf; dsn_queue() owns its
 * temporary buffer and copies everything into the database.
 */
#include "dsn.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/rand.h>

#include "log.h"
#include "xalloc.h"

#define DSN_ORIG_FULL_MAX   (64 * 1024)   /* above: headers only */
#define DSN_FIELD_MAX       900           /* cap on one rendered value */

static int  dsn_render(const char *mta, const spool_message *orig, const char *env_sender,
                       const dsn_rcpt *rcpts, size_t n, enum dsn_action action,
                       time_t now, const char *msgid, const char *boundary, buf *out);
static void dsn_clean(char *out, size_t outlen, const char *in);
static void dsn_date(time_t t, char *out, size_t outlen);
static void dsn_random_hex(char *out, size_t nbytes);
static size_t dsn_header_len(const char *raw, size_t len);
static int  dsn_arrival_date(const char *raw, size_t hlen, char *out, size_t outlen);
static int  dsn_has_8bit(const char *p, size_t n);
static const char *dsn_action_name(enum dsn_action action);
static int  dsn_headers_only(const spool_message *orig, enum dsn_action action);

int dsn_build(const char *reporting_mta, const spool_message *orig,
              const char *env_sender, const dsn_rcpt *rcpts, size_t n,
              enum dsn_action action, time_t now, buf *out)
{
    char rnd[33], msgid[512], boundary[64], host[256];

    dsn_clean(host, sizeof(host), reporting_mta);
    dsn_random_hex(rnd, 16);
    snprintf(msgid, sizeof(msgid), "<%lld.%s@%s>", (long long)now, rnd, host);
    dsn_random_hex(rnd, 16);
    snprintf(boundary, sizeof(boundary), "=_mailyard_dsn_%s", rnd);
    return dsn_render(reporting_mta, orig, env_sender, rcpts, n, action, now, msgid,
                      boundary, out);
}

int dsn_queue(db_conn *c, const char *reporting_mta, const spool_message *orig,
              const char *env_sender, const dsn_rcpt *rcpts, size_t n,
              enum dsn_action action, spool_jobs *out)
{
    char rnd[33], msgid[512], boundary[64], host[256];
    time_t now = time(NULL);

    if (env_sender == NULL || env_sender[0] == '\0') {
        log_info("no DSN for the null sender", "queue_id", orig->queue_id);
        return 0;
    }
    if (n == 0)
        return 0;
    dsn_clean(host, sizeof(host), reporting_mta);
    dsn_random_hex(rnd, 16);
    snprintf(msgid, sizeof(msgid), "<%lld.%s@%s>", (long long)now, rnd, host);
    dsn_random_hex(rnd, 16);
    snprintf(boundary, sizeof(boundary), "=_mailyard_dsn_%s", rnd);

    buf *b = buf_create(orig->raw_len + 256 * 1024 + n * 2048);
    if (dsn_render(reporting_mta, orig, env_sender, rcpts, n, action, now, msgid, boundary,
                   b) != 0) {
        log_error("rendering a DSN failed", "queue_id", orig->queue_id);
        buf_free(b);
        return -1;
    }
    char *rcpt_copy = xstrdup(env_sender);
    spool_message m;
    memset(&m, 0, sizeof(m));
    m.parent_id = orig->id;
    m.mail_from = "";
    m.rcpts = &rcpt_copy;
    m.nrcpts = 1;
    m.message_id = msgid;
    m.origin = "dsn";
    m.raw = b->data;
    m.raw_len = b->len;
    int rc = spool_message_insert(c, &m);
    free(rcpt_copy);
    buf_free(b);
    if (rc != 0)
        return -1;
    json_t *payload = json_object();
    int64_t job = spool_job_create(c, "rewrite", m.id, payload, 0, out);
    json_decref(payload);
    if (job < 0)
        return -1;
    char jid[24];
    snprintf(jid, sizeof(jid), "%" PRId64, job);
    log_info("DSN queued", "queue_id", m.queue_id, "parent", orig->queue_id, "job_id", jid);
    json_t *d = json_pack("{s:s, s:s, s:s, s:i}", "dsn_queue_id", m.queue_id, "to",
                          env_sender, "action", dsn_action_name(action),
                          "recipients", (int)n);
    int ev = d != NULL ? spool_event(c, orig->id, 0, "relay", "dsn_queued", d) : -1;
    json_decref(d);
    return ev == 0 ? 1 : -1;
}

static int dsn_render(const char *mta, const spool_message *orig, const char *env_sender,
                      const dsn_rcpt *rcpts, size_t n, enum dsn_action action,
                      time_t now, const char *msgid, const char *boundary, buf *out)
{
    char host[256], to[512], date[64], arrival[128], v1[DSN_FIELD_MAX], v2[DSN_FIELD_MAX];
    int failed = (action == DSN_FAILED);
    int success = (action == DSN_RELAYED || action == DSN_DELIVERED);
    int r = 0;

    dsn_clean(host, sizeof(host), mta);
    dsn_clean(to, sizeof(to), env_sender);
    dsn_date(now, date, sizeof(date));
    size_t hlen = dsn_header_len(orig->raw, orig->raw_len);
    if (dsn_arrival_date(orig->raw, hlen, arrival, sizeof(arrival)) != 0)
        (void)str_copy(arrival, sizeof(arrival), date);

    /* Top-level header. */
    r |= buf_printf(out, "From: MAILER-DAEMON@%s (Mail Delivery System)\r\n", host);
    r |= buf_printf(out, "To: <%s>\r\n", to);
    r |= buf_printf(out, "Subject: %s\r\n", failed ? "Undelivered Mail Returned to Sender"
                                         : success ? "Successful Mail Delivery Report"
                                                   : "Delayed Mail (still being retried)");
    r |= buf_printf(out, "Date: %s\r\n", date);
    r |= buf_printf(out, "Message-ID: %s\r\n", msgid);
    r |= buf_append_str(out, "Auto-Submitted: auto-replied\r\n");
    r |= buf_append_str(out, "MIME-Version: 1.0\r\n");
    r |= buf_printf(out, "Content-Type: multipart/report; report-type=delivery-status;\r\n"
                         "\tboundary=\"%s\"\r\n", boundary);
    r |= buf_append_str(out, "Content-Transfer-Encoding: 7bit\r\n\r\n");
    r |= buf_append_str(out, "This is a MIME-encapsulated message.\r\n\r\n");

    /* 1. The human-readable part. */
    r |= buf_printf(out, "--%s\r\n", boundary);
    r |= buf_append_str(out, "Content-Description: Notification\r\n"
                             "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
    r |= buf_printf(out, "This is the mail system at host %s.\r\n\r\n", host);
    if (failed)
        r |= buf_append_str(out,
            "I'm sorry to have to inform you that your message could not\r\n"
            "be delivered to one or more recipients. It's attached below.\r\n\r\n");
    else if (action == DSN_RELAYED)
        r |= buf_append_str(out,
            "Your message was successfully relayed to the recipients listed\r\n"
            "below. Their mail system does not send delivery notifications:\r\n"
            "you may still receive notifications of delivery errors from it.\r\n\r\n");
    else if (action == DSN_DELIVERED)
        r |= buf_append_str(out,
            "Your message was successfully delivered to the mailboxes of the\r\n"
            "recipients listed below.\r\n\r\n");
    else
        r |= buf_append_str(out,
            "Your message could not be delivered yet to one or more\r\n"
            "recipients. The mail system will keep trying; you do not\r\n"
            "need to send it again.\r\n\r\n");
    for (size_t i = 0; i < n; i++) {
        dsn_clean(v1, sizeof(v1), rcpts[i].rcpt);
        dsn_clean(v2, sizeof(v2), rcpts[i].diagnostic ? rcpts[i].diagnostic
                                                       : rcpts[i].status);
        r |= buf_printf(out, "<%s>: %s\r\n", v1, v2);
    }
    r |= buf_append_str(out, "\r\n");

    /* 2. The machine-readable part (RFC 3464 §2). */
    r |= buf_printf(out, "--%s\r\n", boundary);
    r |= buf_append_str(out, "Content-Description: Delivery report\r\n"
                             "Content-Type: message/delivery-status\r\n\r\n");
    r |= buf_printf(out, "Reporting-MTA: dns; %s\r\n", host);
    dsn_clean(v1, sizeof(v1), orig->queue_id);
    r |= buf_printf(out, "X-Mailyard-Queue-ID: %s\r\n", v1);
    if (orig->dsn_envid != NULL && orig->dsn_envid[0] != '\0') {
        dsn_clean(v1, sizeof(v1), orig->dsn_envid);
        r |= buf_printf(out, "Original-Envelope-Id: %s\r\n", v1);
    }
    r |= buf_printf(out, "Arrival-Date: %s\r\n", arrival);
    for (size_t i = 0; i < n; i++) {
        r |= buf_append_str(out, "\r\n");
        if (rcpts[i].orcpt != NULL && rcpts[i].orcpt[0] != '\0') {
            dsn_clean(v1, sizeof(v1), rcpts[i].orcpt);
            r |= buf_printf(out, "Original-Recipient: %s\r\n", v1);
        }
        dsn_clean(v1, sizeof(v1), rcpts[i].rcpt);
        r |= buf_printf(out, "Final-Recipient: rfc822; %s\r\n", v1);
        r |= buf_printf(out, "Action: %s\r\n", dsn_action_name(action));
        dsn_clean(v1, sizeof(v1), rcpts[i].status ? rcpts[i].status
                                                   : (failed ? "5.0.0"
                                                      : success ? "2.0.0" : "4.0.0"));
        r |= buf_printf(out, "Status: %s\r\n", v1);
        if (rcpts[i].remote_mta != NULL) {
            dsn_clean(v1, sizeof(v1), rcpts[i].remote_mta);
            r |= buf_printf(out, "Remote-MTA: %s\r\n", v1);
        }
        if (rcpts[i].diagnostic != NULL) {
            dsn_clean(v1, sizeof(v1), rcpts[i].diagnostic);
            r |= buf_printf(out, "Diagnostic-Code: %s\r\n", v1);
        }
        if (action == DSN_DELAYED && rcpts[i].will_retry_until > 0) {
            dsn_date(rcpts[i].will_retry_until, v1, sizeof(v1));
            r |= buf_printf(out, "Will-Retry-Until: %s\r\n", v1);
        }
    }
    r |= buf_append_str(out, "\r\n");

    /* 3. The original message, or its header when it is large. */
    r |= buf_printf(out, "--%s\r\n", boundary);
    if (dsn_headers_only(orig, action)) {
        r |= buf_append_str(out, "Content-Description: Undelivered Message Headers\r\n"
                                 "Content-Type: text/rfc822-headers\r\n");
        if (dsn_has_8bit(orig->raw, hlen))
            r |= buf_append_str(out, "Content-Transfer-Encoding: 8bit\r\n");
        r |= buf_append_str(out, "\r\n");
        r |= buf_append(out, orig->raw, hlen);
    } else {
        r |= buf_append_str(out, "Content-Description: Undelivered Message\r\n"
                                 "Content-Type: message/rfc822\r\n");
        if (dsn_has_8bit(orig->raw, orig->raw_len))
            r |= buf_append_str(out, "Content-Transfer-Encoding: 8bit\r\n");
        r |= buf_append_str(out, "\r\n");
        r |= buf_append(out, orig->raw, orig->raw_len);
    }
    r |= buf_printf(out, "\r\n--%s--\r\n", boundary);
    return r != 0 ? -1 : 0;
}

/* Copies in (NULL reads as ""), replacing control characters (CR, LF,
 * TAB, ...) by spaces so a value stays on its line; truncates to outlen. */
static void dsn_clean(char *out, size_t outlen, const char *in)
{
    size_t o = 0;
    if (outlen == 0)
        return;
    for (; in != NULL && *in != '\0' && o + 1 < outlen; in++) {
        unsigned char c = (unsigned char)*in;
        out[o++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    out[o] = '\0';
}

/* RFC 5322 date in UTC, independent of the locale. */
static void dsn_date(time_t t, char *out, size_t outlen)
{
    static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL)
        memset(&tm, 0, sizeof(tm));
    snprintf(out, outlen, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7],
             tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
             tm.tm_sec);
}

static void dsn_random_hex(char *out, size_t nbytes)
{
    unsigned char b[32];
    if (nbytes > sizeof(b))
        nbytes = sizeof(b);
    if (RAND_bytes(b, (int)nbytes) != 1)
        panic("RAND_bytes failed");
    for (size_t i = 0; i < nbytes; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    out[2 * nbytes] = '\0';
}

/* Length of the header section, without the empty line that ends it. */
static size_t dsn_header_len(const char *raw, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (raw[i] != '\n')
            continue;
        if (raw[i + 1] == '\n')
            return i + 1;
        if (raw[i + 1] == '\r' && i + 2 < len && raw[i + 2] == '\n')
            return i + 1;
    }
    return len;
}

/* The date-time after the last ';' of the first Received field. */
static int dsn_arrival_date(const char *raw, size_t hlen, char *out, size_t outlen)
{
    size_t i = 0;
    while (i < hlen) {
        size_t eol = i;
        while (eol < hlen && raw[eol] != '\n')
            eol++;
        if (eol - i >= 9 && strncasecmp(raw + i, "Received:", 9) == 0) {
            /* extend over folded continuation lines */
            size_t end = eol;
            while (end + 1 < hlen && (raw[end + 1] == ' ' || raw[end + 1] == '\t')) {
                end++;
                while (end < hlen && raw[end] != '\n')
                    end++;
            }
            size_t semi = 0;
            for (size_t k = i; k < end; k++)
                if (raw[k] == ';')
                    semi = k + 1;
            if (semi == 0)
                return -1;
            size_t o = 0;
            for (size_t k = semi; k < end && o + 1 < outlen; k++) {
                unsigned char c = (unsigned char)raw[k];
                if (c == '\r' || c == '\n' || c == '\t')
                    c = ' ';
                if (c < 0x20 || c > 0x7e)
                    return -1;
                if (c == ' ' && (o == 0 || out[o - 1] == ' '))
                    continue;
                out[o++] = (char)c;
            }
            while (o > 0 && out[o - 1] == ' ')
                o--;
            out[o] = '\0';
            return o >= 10 ? 0 : -1;
        }
        i = eol + 1;
    }
    return -1;
}

static const char *dsn_action_name(enum dsn_action action)
{
    switch (action) {
    case DSN_FAILED:    return "failed";
    case DSN_DELAYED:   return "delayed";
    case DSN_RELAYED:   return "relayed";
    case DSN_DELIVERED: return "delivered";
    }
    return "failed";
}

/* RET (RFC 3461 §4.3) decides for failures; success reports carry only the
 * header; without RET a message above DSN_ORIG_FULL_MAX is cut to it. */
static int dsn_headers_only(const spool_message *orig, enum dsn_action action)
{
    if (action == DSN_RELAYED || action == DSN_DELIVERED)
        return 1;
    if (orig->dsn_ret != NULL && strcmp(orig->dsn_ret, "HDRS") == 0)
        return 1;
    if (action == DSN_FAILED && orig->dsn_ret != NULL && strcmp(orig->dsn_ret, "FULL") == 0)
        return 0;
    return orig->raw_len > DSN_ORIG_FULL_MAX;
}

static int dsn_has_8bit(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] & 0x80)
            return 1;
    return 0;
}
