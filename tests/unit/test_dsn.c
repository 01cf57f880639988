/*
 * test_dsn.c - unit tests for libcommon/dsn.c's dsn_build(): the RFC 3464
 * multipart/report structure, the per-recipient fields, the returned
 * original (full or headers only), CRLF line ends, and that peer-supplied
 * text cannot inject header fields.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dsn.h"

static const char ORIG[] =
    "Received: from client.example (client.example [192.0.2.1])\r\n"
    "\tby mx.ours.example with ESMTP id ABC; Sun, 22 Nov 2026 07:00:00 +0000\r\n"
    "From: Alice <alice@a.example>\r\n"
    "To: bob@b.example\r\n"
    "Subject: hello\r\n"
    "Message-ID: <m1@a.example>\r\n"
    "\r\n"
    "Hi Bob.\r\n";

static void orig_init(spool_message *m, char *raw, size_t len)
{
    memset(m, 0, sizeof(*m));
    m->id = 42;
    snprintf(m->queue_id, sizeof(m->queue_id), "%s", "Q1234567890A");
    m->mail_from = "alice@a.example";
    m->raw = raw;
    m->raw_len = len;
}

/* Returns the body of MIME part idx (0-based) between boundary lines, as a
 * malloc'd string, or NULL. */
static char *part(const char *msg, const char *boundary, int idx)
{
    char delim[128];
    snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
    const char *p = strstr(msg, delim);
    for (int i = 0; p != NULL && i < idx; i++)
        p = strstr(p + 1, delim);
    if (p == NULL)
        return NULL;
    p += strlen(delim);
    if (strncmp(p, "--", 2) == 0)
        return NULL;
    p += 2;   /* CRLF after the boundary */
    const char *end = strstr(p, delim);
    if (end == NULL)
        return NULL;
    return strndup(p, (size_t)(end - p));
}

static void get_boundary(const char *msg, char *out, size_t outlen)
{
    const char *b = strstr(msg, "boundary=\"");
    assert_non_null(b);
    b += 10;
    const char *e = strchr(b, '"');
    assert_non_null(e);
    assert_true((size_t)(e - b) < outlen);
    memcpy(out, b, (size_t)(e - b));
    out[e - b] = '\0';
}

static void assert_crlf_only(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\n')
            assert_true(i > 0 && s[i - 1] == '\r');
}

static void test_structure(void **state)
{
    (void)state;
    char raw[sizeof(ORIG)];
    memcpy(raw, ORIG, sizeof(ORIG));
    spool_message m;
    orig_init(&m, raw, sizeof(ORIG) - 1);
    dsn_rcpt r[2] = {
        { "bob@b.example", "5.1.1", "smtp; 550 5.1.1 no such user", "dns; mx.b.example", NULL, 0 },
        { "carol@c.example", "4.4.7", NULL, NULL, NULL, 0 },
    };
    buf *out = buf_create(1 << 20);
    assert_int_equal(dsn_build("relay.ours.example", &m, "alice@a.example", r, 2,
                               DSN_FAILED, 1795330800, out), 0);
    const char *s = out->data;
    assert_crlf_only(s, out->len);

    /* Top-level header. */
    const char *hend = strstr(s, "\r\n\r\n");
    assert_non_null(hend);
    char *head = strndup(s, (size_t)(hend - s) + 2);
    assert_non_null(strstr(head, "From: MAILER-DAEMON@relay.ours.example"));
    assert_non_null(strstr(head, "To: <alice@a.example>\r\n"));
    assert_non_null(strstr(head, "Subject: Undelivered Mail Returned to Sender\r\n"));
    assert_non_null(strstr(head, "Auto-Submitted: auto-replied\r\n"));
    assert_non_null(strstr(head, "MIME-Version: 1.0\r\n"));
    assert_non_null(strstr(head, "Date: Sun, 22 Nov 2026 07:00:00 +0000\r\n"));
    assert_non_null(strstr(head, "Message-ID: <1795330800."));
    assert_non_null(strstr(head, "@relay.ours.example>\r\n"));
    assert_non_null(strstr(head, "Content-Type: multipart/report; report-type=delivery-status;"));
    free(head);

    char boundary[100];
    get_boundary(s, boundary, sizeof(boundary));
    assert_true(strlen(boundary) > 16);

    /* Part 1: human readable. */
    char *p1 = part(s, boundary, 0);
    assert_non_null(p1);
    assert_non_null(strstr(p1, "Content-Type: text/plain"));
    assert_non_null(strstr(p1, "<bob@b.example>: smtp; 550 5.1.1 no such user\r\n"));
    assert_non_null(strstr(p1, "<carol@c.example>: 4.4.7\r\n"));
    free(p1);

    /* Part 2: message/delivery-status. */
    char *p2 = part(s, boundary, 1);
    assert_non_null(p2);
    assert_true(strncmp(p2, "Content-Description: Delivery report\r\n"
                            "Content-Type: message/delivery-status\r\n\r\n", 78) == 0);
    assert_non_null(strstr(p2, "\r\n\r\nReporting-MTA: dns; relay.ours.example\r\n"));
    assert_non_null(strstr(p2, "Arrival-Date: Sun, 22 Nov 2026 07:00:00 +0000\r\n"));
    assert_non_null(strstr(p2, "\r\n\r\nFinal-Recipient: rfc822; bob@b.example\r\n"
                               "Action: failed\r\nStatus: 5.1.1\r\n"
                               "Remote-MTA: dns; mx.b.example\r\n"
                               "Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n"));
    assert_non_null(strstr(p2, "\r\n\r\nFinal-Recipient: rfc822; carol@c.example\r\n"
                               "Action: failed\r\nStatus: 4.4.7\r\n"));
    /* carol has no Remote-MTA / Diagnostic-Code */
    const char *carol = strstr(p2, "carol@c.example");
    assert_null(strstr(carol, "Remote-MTA"));
    free(p2);

    /* Part 3: the original, byte for byte. */
    char *p3 = part(s, boundary, 2);
    assert_non_null(p3);
    const char *ct = "Content-Description: Undelivered Message\r\n"
                     "Content-Type: message/rfc822\r\n\r\n";
    assert_true(strncmp(p3, ct, strlen(ct)) == 0);
    assert_string_equal(p3 + strlen(ct), ORIG);
    free(p3);

    /* No fourth part; the closing delimiter ends the message. */
    assert_null(part(s, boundary, 3));
    char closing[128];
    snprintf(closing, sizeof(closing), "\r\n--%s--\r\n", boundary);
    assert_true(out->len > strlen(closing));
    assert_string_equal(s + out->len - strlen(closing), closing);
    buf_free(out);
}

static void test_large_original_headers_only(void **state)
{
    (void)state;
    size_t body = 70 * 1024;
    size_t hl = sizeof(ORIG) - 1 - strlen("Hi Bob.\r\n");
    char *raw = malloc(hl + body + 1);
    memcpy(raw, ORIG, hl);
    for (size_t i = 0; i < body; i++)
        raw[hl + i] = (i % 80 == 78) ? '\r' : (i % 80 == 79) ? '\n' : 'x';
    raw[hl + body] = '\0';
    spool_message m;
    orig_init(&m, raw, hl + body);
    dsn_rcpt r = { "bob@b.example", "5.2.2", "smtp; 552 5.2.2 mailbox full", NULL, NULL, 0 };
    buf *out = buf_create(1 << 20);
    assert_int_equal(dsn_build("relay.ours.example", &m, "alice@a.example", &r, 1,
                               DSN_FAILED, 1795330800, out), 0);
    char boundary[100];
    get_boundary(out->data, boundary, sizeof(boundary));
    char *p3 = part(out->data, boundary, 2);
    assert_non_null(p3);
    assert_non_null(strstr(p3, "Content-Type: text/rfc822-headers\r\n"));
    assert_non_null(strstr(p3, "Subject: hello\r\n"));
    assert_null(strstr(p3, "xxxxxxxx"));      /* no body */
    assert_null(strstr(out->data, "message/rfc822"));
    assert_true(out->len < 8 * 1024);
    free(p3);
    buf_free(out);
    free(raw);
}

static void test_injection_and_delayed(void **state)
{
    (void)state;
    char raw[] = "Subject: x\r\n\r\nno received header\r\n";
    spool_message m;
    orig_init(&m, raw, strlen(raw));
    dsn_rcpt r = { "bob@b.example\r\nBcc: evil@x.example", "4.4.1",
                   "smtp; 451 try\r\nlater", NULL, NULL, 1795762800 };
    buf *out = buf_create(1 << 20);
    assert_int_equal(dsn_build("relay.ours.example", &m, "alice@a.example\r\nX-Evil: 1", &r, 1,
                               DSN_DELAYED, 1795330800, out), 0);
    assert_null(strstr(out->data, "\r\nBcc:"));
    assert_null(strstr(out->data, "\r\nX-Evil:"));
    assert_non_null(strstr(out->data, "Action: delayed\r\n"));
    /* RFC 3464 §2.3.9: when the relay gives up (here 5 days after now). */
    assert_non_null(strstr(out->data, "Will-Retry-Until: Fri, 27 Nov 2026 07:00:00 +0000\r\n"));
    assert_non_null(strstr(out->data, "Subject: Delayed Mail (still being retried)\r\n"));
    /* Without a Received field, Arrival-Date falls back to now. */
    assert_non_null(strstr(out->data, "Arrival-Date: Sun, 22 Nov 2026 07:00:00 +0000\r\n"));
    assert_crlf_only(out->data, out->len);
    buf_free(out);
}

static void test_ceiling(void **state)
{
    (void)state;
    char raw[sizeof(ORIG)];
    memcpy(raw, ORIG, sizeof(ORIG));
    spool_message m;
    orig_init(&m, raw, sizeof(ORIG) - 1);
    dsn_rcpt r = { "bob@b.example", "5.1.1", NULL, NULL, NULL, 0 };
    buf *out = buf_create(200);
    assert_int_equal(dsn_build("h", &m, "alice@a.example", &r, 1, DSN_FAILED, 0, out), -1);
    buf_free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_large_original_headers_only),
        cmocka_unit_test(test_injection_and_delayed),
        cmocka_unit_test(test_ceiling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
