/*
 * test_smtp_session.c - the SMTP state machine (services/mx/smtp_session.c)
 * driven without sockets: bytes in, replies out, with fake recipient-check
 * and commit callbacks. Includes SMTP smuggling through DATA and BDAT,
 * pipelining before EHLO, SMTPUTF8 and DSN parameters.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../services/mx/smtp_parse.c"
#include "../../services/mx/smtp_data.c"
#include "../../services/mx/smtp_session.c"
#include "../../services/mx/smtp_sasl.c"
#include "../../services/mx/smtp_session_auth.c"

typedef struct fake {
    int    commit_fail;
    int    commits;
    int    rcpt_checks;
    char   body[4096];
    size_t body_len;
    char   from[300];
    size_t nrcpts;
    char   rcpt0[300];
    int    replies_seen;
    int    smtputf8;
    int    dsn_ret;
    char   envid[128];
    unsigned notify0;
    char   orcpt0[600];
} fake;

static enum smtp_rcpt_verdict fake_rcpt(void *arg, const char *addr)
{
    fake *f = arg;
    f->rcpt_checks++;
    if (strncmp(addr, "unknown", 7) == 0) return SMTP_RCPT_UNKNOWN;
    if (strstr(addr, "@foreign.example") != NULL) return SMTP_RCPT_RELAY_DENIED;
    if (strncmp(addr, "temp", 4) == 0) return SMTP_RCPT_TEMPFAIL;
    return SMTP_RCPT_ACCEPT;
}

static int fake_commit(void *arg, smtp_session *s, smtp_tx *tx, char *qid, size_t qidlen)
{
    fake *f = arg;
    (void)s;
    if (f->commit_fail)
        return -1;
    f->commits++;
    assert_true(tx->data.body.len < sizeof f->body);
    memcpy(f->body, tx->data.body.data, tx->data.body.len);
    f->body_len = tx->data.body.len;
    snprintf(f->from, sizeof f->from, "%s", tx->mail_from);
    f->nrcpts = tx->nrcpts;
    snprintf(f->rcpt0, sizeof f->rcpt0, "%s", tx->nrcpts ? tx->rcpts[0] : "");
    f->smtputf8 = tx->smtputf8;
    f->dsn_ret = (int)tx->dsn_ret;
    snprintf(f->envid, sizeof f->envid, "%s", tx->dsn_envid);
    f->notify0 = tx->nrcpts ? tx->notify[0] : 0;
    snprintf(f->orcpt0, sizeof f->orcpt0, "%s", tx->nrcpts && tx->orcpt[0] ? tx->orcpt[0] : "");
    snprintf(qid, qidlen, "QID%d", f->commits);
    return 0;
}

static void fake_reply(void *arg, smtp_session *s, int code, const char *text)
{
    fake *f = arg;
    (void)s; (void)code; (void)text;
    f->replies_seen++;
}

static smtp_session_cfg cfg_default(void)
{
    smtp_session_cfg c = {
        .hostname = "mx.test.example", .max_message_size = 1000, .max_rcpts = 3,
        .max_errors = 5, .tls_available = 1, .rcpt_check = fake_rcpt,
        .commit = fake_commit, .on_reply = fake_reply,
    };
    return c;
}

static char replies[65536];
static enum smtp_action last_act;

/* Feeds in (in pieces of step bytes; 0 = as large as allowed) and returns
 * the replies produced, clearing the session's output. */
static const char *send_(smtp_session *s, const char *in, size_t step)
{
    size_t n = strlen(in), off = 0;
    replies[0] = '\0';
    last_act = SMTP_ACT_CONTINUE;
    while (off < n && last_act == SMTP_ACT_CONTINUE) {
        size_t k = n - off;
        if (k > SMTP_FEED_MAX) k = SMTP_FEED_MAX;
        if (step && k > step) k = step;
        last_act = smtp_session_feed(s, in + off, k);
        off += k;
    }
    assert_true(s->out.len < sizeof replies);
    memcpy(replies, s->out.data, s->out.len);
    replies[s->out.len] = '\0';
    buf_reset(&s->out);
    return replies;
}
#define SEND(s, in) send_((s), (in), 0)

static smtp_session *start(const smtp_session_cfg *c, fake *f)
{
    memset(f, 0, sizeof *f);
    smtp_session *s = smtp_session_create(c, "192.0.2.7", f);
    assert_string_equal(s->out.data, "220 mx.test.example ESMTP Mailyard\r\n");
    buf_reset(&s->out);
    return s;
}

static void test_ehlo_helo(void **state)
{
    (void)state;
    smtp_session_cfg c = cfg_default();
    fake f;
    smtp_session *s = start(&c, &f);
    assert_string_equal(SEND(s, "EHLO client.example\r\n"),
        "250-mx.test.example\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n"
        "250-SMTPUTF8\r\n250-CHUNKING\r\n250-DSN\r\n250-STARTTLS\r\n250 ENHANCEDSTATUSCODES\r\n");
    assert_string_equal(s->helo, "client.example");
    assert_int_equal(s->esmtp, 1);
    assert_string_equal(SEND(s, "HELO other.example\r\n"), "250 mx.test.example\r\n");
    assert_int_equal(s->esmtp, 0);
    assert_string_equal(SEND(s, "EHLO\r\n"), "501 5.5.4 Syntax: EHLO hostname\r\n");
    assert_string_equal(SEND(s, "EHLO a<b\r\n"), "501 5.5.2 Error: invalid EHLO hostname\r\n");
    smtp_session_free(s);

    c.tls_available = 0;
    s = start(&c, &f);
    assert_null(strstr(SEND(s, "EHLO x\r\n"), "STARTTLS"));
    assert_string_equal(SEND(s, "STARTTLS\r\n"), "502 5.5.1 Error: command not implemented\r\n");
    smtp_session_free(s);
}

static void test_before_helo(void **state)
{
    (void)state;
    smtp_session_cfg c = cfg_default();
    c.max_errors = 100;
    fake f;
    smtp_session *s = start(&c, &f);
    assert_string_equal(SEND(s, "MAIL FROM:<a@b.example>\r\n"),
                        "503 5.5.1 Error: send HELO/EHLO first\r\n");
    assert_string_equal(SEND(s, "RCPT TO:<a@b.example>\r\n"),
                        "503 5.5.1 Error: send HELO/EHLO first\r\n");
    assert_string_equal(SEND(s, "DATA\r\n"), "503 5.5.1 Error: send HELO/EHLO first\r\n");
    assert_string_equal(SEND(s, "STARTTLS\r\n"), "503 5.5.1 Error: send HELO/EHLO first\r\n");
    assert_string_equal(SEND(s, "NOOP\r\n"), "250 2.0.0 Ok\r\n");
    assert_string_equal(SEND(s, "RSET\r\n"), "250 2.0.0 Ok\r\n");
    assert_string_equal(SEND(s, "VRFY root\r\n"),
        "252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery\r\n");
    assert_string_equal(SEND(s, "QUIT\r\nNOOP\r\n"), "221 2.0.0 Bye\r\n");
    assert_int_equal(last_act, SMTP_ACT_CLOSE);
    smtp_session_free(s);
}

static void check_transaction(size_t step)
{
    smtp_session_cfg c = cfg_default();
    fake f;
    smtp_session *s = start(&c, &f);
    assert_non_null(strstr(send_(s, "EHLO client.example\r\n", step),
                           "250 ENHANCEDSTATUSCODES\r\n"));
    const char *r = send_(s,
        "MAIL FROM:<sender@example.org> SIZE=100 BODY=8BITMIME\r\n"
        "RCPT TO:<list@lists.example>\r\n"
        "DATA\r\n"
        "Subject: hi\r\nMessage-ID: <1@x>\r\n\r\n..dot line\r\nbody\r\n.\r\n"
        "QUIT\r\n", step);
    assert_non_null(strstr(r,
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
        "250 2.0.0 Ok: queued as QID1\r\n221 2.0.0 Bye\r\n"));
    assert_int_equal(f.commits, 1);
    const char *want = "Subject: hi\r\nMessage-ID: <1@x>\r\n\r\n.dot line\r\nbody\r\n";
    assert_int_equal(f.body_len, strlen(want));
    assert_memory_equal(f.body, want, f.body_len);
    assert_string_equal(f.from, "sender@example.org");
    assert_int_equal(f.nrcpts, 1);
    assert_string_equal(f.rcpt0, "list@lists.example");
    assert_null(s->tx);                               /* rolled back after commit */
    assert_int_equal(last_act, SMTP_ACT_CLOSE);
    smtp_session_free(s);
}

static void test_transaction_pipelined(void **state) { (void)state; check_transaction(0); }
static void test_transaction_bytewise(void **state)  { (void)state; check_transaction(1); }
static void test_transaction_chunks(void **state)    { (void)state; check_transaction(5); }

static void test_sequence_errors(void **state)
{
    (void)state;
    smtp_session_cfg c = cfg_default();
    c.max_errors = 100;
    fake f;
    smtp_session *s = start(&c, &f);
    SEND(s, "EHLO x\r\n");
    assert_string_equal(SEND(s, "RCPT TO:<a@b.example>\r\n"),
                        "503 5.5.1 Error: need MAIL command\r\n");
    assert_string_equal(SEND(s, "DATA\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
    assert_string_equal(SEND(s, "MAIL FROM:<>\r\n"), "250 2.1.0 Ok\r\n");
    assert_string_equal(SEND(s, "MAIL FROM:<>\r\n"), "503 5.5.1 Error: nested MAIL command\r\n");
    assert_string_equal(SEND(s, "DATA\r\n"), "503 5.5.1 Error: need RCPT command\r\n");
    assert_string_equal(SEND(s, "RCPT TO:<unknown@b.example>\r\n"),
        "550 5.1.1 <unknown@b.example>: Recipient address rejected: User unknown\r\n");
    assert_string_equal(SEND(s, "DATA\r\n"), "554 5.5.1 Error: no valid recipients\r\n");
    assert_string_equal(SEND(s, "RSET\r\n"), "250 2.0.0 Ok\r\n");
    assert_null(s->tx);
    assert_string_equal(SEND(s, "RCPT TO:<a@b.example>\r\n"),
                        "503 5.5.1 Error: need MAIL command\r\n");
    assert_string_equal(SEND(s, "MAIL FROM:<a@b.example>\r\n"), "250 2.1.0 Ok\r\n");
    assert_string_equal(SEND(s, "RCPT TO:<a@b.example>\r\n"), "250 2.1.5 Ok\r\n");
    assert_string_equal(SEND(s, "DATA extra\r\n"), "501 5.5.4 Syntax: DATA\r\n");
    /* EHLO resets the transaction */
    SEND(s, "EHLO x\r\n");
    assert_null(s->tx);
    smtp_session_free(s);
}

static void test_rcpt_verdicts(void **state)
{
    (void)state;
    smtp_session_cfg c = cfg_default();
    c.max_errors = 100;
    fake f;
    smtp_session *s = start(&c, &f);
    SEND(s, "EHLO x\r\n");
    SEND(s, "MAIL FROM:<a@b.example>\r\n");
    assert_string_equal(SEND(s, "RCPT TO:<x@foreign.example>\r\n"),
                        "554 5.7.1 <x@foreign.example>: Relay access denied\r\n");
    assert_string_equal(SEND(s, "RCPT TO:<temp@b.example>\r\n"),
        "451 4.4.3 <temp@b.example>: Recipient address lookup failed, try again later\r\n");
    assert_string_equal(SEND(s, "RCPT TO:bad\r\n"), "501 5.1.3 Bad recipient address syntax\r\n");
    assert_string_equal(SEND(s, "RCPT TO:<a b@c>\r\n"), "501 5.1.3 Bad recipient address syntax\r\n");
    assert_string_equal(SEND(s, "RCPT TO:<@r.example:x@y.example>\r\n"),
        "553 5.7.1 Source routes and %/! routing are not accepted\r\n");
    assert_string_equal(SEND(s, "RCPT TO:<x!y@z.example>\r\n"),
        "553 5.7.1 Source routes and %/! routing are not accepted\r\n");
    assert_string_equal(SEND(s, "RCPT <x@y.example>\r\n"), "501 5.5.2 Syntax: RCPT TO:<address>\r\n");
    assert_string_equal(SEND(s, "RCPT TO:<x@y.example> XFOO=NEVER\r\n"),
                        "555 5.5.4 Unsupported RCPT parameter\r\n");
    assert_int_equal(s->tx->nrcpts, 0);
    /* limit: 3 distinct recipients; duplicates count once */
    assert_string_equal(SEND(s, "RCPT TO:<r1@y.example>\r\n"), "250 2.1.5 Ok\r\n");
    assert_string_equal(SEND(s, "RCPT TO:<R1@y.example>\r\n"), "250 2.1.5 Ok\r\n");
    assert_string_equal(SEND(s, "RCPT TO:<r2@y.example>\r\n"), "250 2.1.5 Ok\r\n");
    assert_string_equal(SEND(s, "RCPT TO:<r3@y.example>\r\n"), "250 2.1.5 Ok\r\n");
    assert_string_equal(SEND(s, "RCPT TO:<r4@y.example>\r\n"),
                        "452 4.5.3 Error: too many recipients\r\n");
    assert_int_equal(s->tx->nrcpts, 3);
    smtp_session_free(s);
}

static void test_mail_params(void **state)
{
    (void)state;
    smtp_session_cfg c = cfg_default();
    c.max_errors = 100;
    fake f;
    smtp_session *s = start(&c, &f);
    SEND(s, "EHLO x\r\n");
    assert_string_equal(SEND(s, "MAIL FROM:<a@b.example> SIZE=1001\r\n"),
        "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
    assert_null(s->tx);
    assert_string_equal(SEND(s, "MAIL FROM:<a@b.example> BODY=BINARYMIME\r\n"),
                        "501 5.5.4 Bad MAIL parameter value\r\n");
    assert_string_equal(SEND(s, "MAIL FROM:<a@b.example> XFOO=1\r\n"),
                        "555 5.5.4 Unsupported MAIL parameter\r\n");
    assert_string_equal(SEND(s, "MAIL FROM:a@b.example\r\n"), "501 5.1.7 Bad sender address syntax\r\n");
    assert_string_equal(SEND(s, "MAIL FROM:<a%b@c.example>\r\n"),
        "553 5.7.1 Source routes and %/! routing are not accepted\r\n");
    assert_string_equal(SEND(s, "MAIL TO:<a@b.example>\r\n"), "501 5.5.2 Syntax: MAIL FROM:<address>\r\n");
    assert_string_equal(SEND(s, "MAIL FROM:<a@b.example> SIZE=1000\r\n"), "250 2.1.0 Ok\r\n");
    smtp_session_free(s);

    s = start(&c, &f);                          /* HELO: no parameters */
    SEND(s, "HELO x\r\n");
    assert_string_equal(SEND(s, "MAIL FROM:<a@b.example> SIZE=10\r\n"),
                        "555 5.5.4 Unsupported MAIL parameter\r\n");
    smtp_session_free(s);
}

static void data_reply(const char *body, const char *want, int commits)
{
    smtp_session_cfg c = cfg_default();
    fake f;
    smtp_session *s = start(&c, &f);
    SEND(s, "EHLO x\r\n");
    SEND(s, "MAIL FROM:<a@b.example>\r\nRCPT TO:<r@y.example>\r\nDATA\r\n");
    assert_string_equal(SEND(s, body), want);
    assert_int_equal(f.commits, commits);
    assert_null(s->tx);
    assert_int_equal(s->state, SMTP_STATE_CMD);
    /* the session goes on */
    assert_string_equal(SEND(s, "MAIL FROM:<a@b.example>\r\n"), "250 2.1.0 Ok\r\n");
    smtp_session_free(s);
}

static void test_data_errors(void **state)
{
    (void)state;
    char big[1200];
    memset(big, 'x', sizeof big);
    memcpy(big + 500, "\r\n", 2);
    memcpy(big + sizeof big - 6, "\r\n.\r\n", 6);   /* includes the NUL */
    data_reply(big, "552 5.3.4 Error: message size exceeds fixed maximum message size\r\n", 0);
    data_reply("a\nb\r\n.\r\n",
        "550 5.6.0 Error: bare CR or LF in message data (lines must end with CRLF)\r\n", 0);
    data_reply("a\rb\r\n.\r\n",
        "550 5.6.0 Error: bare CR or LF in message data (lines must end with CRLF)\r\n", 0);
    data_reply("ok\r\n.\r\n", "250 2.0.0 Ok: queued as QID1\r\n", 1);

    smtp_session_cfg c = cfg_default();
    c.max_message_size = 5000;
    fake f;
    smtp_session *s = start(&c, &f);
    SEND(s, "EHLO x\r\n");
    SEND(s, "MAIL FROM:<a@b.example>\r\nRCPT TO:<r@y.example>\r\nDATA\r\n");
    char line[1100];
    memset(line, 'y', sizeof line);
    memcpy(line + 999, "\r\n.\r\n", 6);
    assert_string_equal(SEND(s, line), "550 5.6.0 Error: message line longer than 998 octets\r\n");
    assert_int_equal(f.commits, 0);
    smtp_session_free(s);
}

static void test_commit_failure(void **state)
{
    (void)state;
    smtp_session_cfg c = cfg_default();
    fake f;
    smtp_session *s = start(&c, &f);
    f.commit_fail = 1;
    const char *r = SEND(s, "EHLO x\r\n");
    SEND(s, "MAIL FROM:<a@b.example>\r\nRCPT TO:<r@y.example>\r\n"
                            "DATA\r\nhello\r\n.\r\n");
    assert_non_null(strstr(r, "354 End data"));
    assert_non_null(strstr(r, "\r\n451 4.3.0 Error: could not store the message, try again later\r\n"));
    assert_null(strstr(r, "250 2.0.0"));
    assert_null(s->tx);
    smtp_session_free(s);
}

static void test_long_command_line(void **state)
{
    (void)state;
    smtp_session_cfg c = cfg_default();
    fake f;
    smtp_session *s = start(&c, &f);
    char line[2000];
    memset(line, 'A', sizeof line);
    memcpy(line, "NOOP ", 5);
    memcpy(line + sizeof line - 3, "\r\n", 3);
    /* fed in pieces: the over-long line is discarded to its end */
    assert_string_equal(send_(s, line, 100), "500 5.5.2 Error: line too long\r\n");
    assert_string_equal(SEND(s, "NOOP\r\n"), "250 2.0.0 Ok\r\n");
    /* exactly 512 octets with CRLF is fine; 513 is not */
    char ok[SMTP_LINE_MAX + 1];
    memset(ok, 'x', sizeof ok);
    memcpy(ok, "NOOP ", 5);
    memcpy(ok + SMTP_LINE_MAX - 2, "\r\n", 3);
    assert_string_equal(SEND(s, ok), "250 2.0.0 Ok\r\n");
    char bad[SMTP_LINE_MAX + 2];
    memset(bad, 'x', sizeof bad);
    memcpy(bad, "NOOP ", 5);
    memcpy(bad + SMTP_LINE_MAX - 1, "\r\n", 3);
    assert_string_equal(SEND(s, bad), "500 5.5.2 Error: line too long\r\n");
    smtp_session_free(s);
}

static void test_garbage_and_error_limit(void **state)
{
    (void)state;
    smtp_session_cfg c = cfg_default();
    fake f;
    smtp_session *s = start(&c, &f);
    assert_string_equal(SEND(s, "\x16\x03\x01\x02\x7f\r\n"), "500 5.5.2 Error: command not recognized\r\n");
    assert_int_equal(smtp_session_feed(s, "NO\0OP\r\n", 7), SMTP_ACT_CONTINUE);   /* NUL */
    assert_string_equal(s->out.data, "500 5.5.2 Error: command not recognized\r\n");
    buf_reset(&s->out);
    s->errors = 0;
    SEND(s, "EHLO x\r\n");
    assert_string_equal(SEND(s, "FOO\r\n"), "500 5.5.2 Error: command not recognized\r\n");
    assert_string_equal(SEND(s, "NOOP\r\n"), "250 2.0.0 Ok\r\n");   /* goes on */
    SEND(s, "BAR\r\nBAZ\r\nZAP\r\n");
    const char *r = SEND(s, "QUUX\r\nNOOP\r\n");   /* 5th error */
    assert_string_equal(r, "500 5.5.2 Error: command not recognized\r\n"
                           "421 4.7.0 Error: too many errors\r\n");
    assert_int_equal(last_act, SMTP_ACT_CLOSE);
    assert_int_equal(s->state, SMTP_STATE_CLOSED);
    smtp_session_free(s);
}

static void test_starttls(void **state)
{
    (void)state;
    smtp_session_cfg c = cfg_default();
    fake f;
    smtp_session *s = start(&c, &f);
    SEND(s, "EHLO x\r\n");
    SEND(s, "MAIL FROM:<a@b.example>\r\n");
    assert_string_equal(SEND(s, "STARTTLS extra\r\n"), "501 5.5.4 Syntax: STARTTLS\r\n");
    /* injected plaintext after STARTTLS must not be executed */
    assert_string_equal(SEND(s, "STARTTLS\r\nRSET\r\nMAIL FROM:<evil@x.example>\r\n"),
                        "220 2.0.0 Ready to start TLS\r\n");
    assert_int_equal(last_act, SMTP_ACT_STARTTLS);
    assert_null(s->tx);
    assert_string_equal(s->helo, "");
    smtp_session_tls_started(s);
    assert_string_equal(SEND(s, "MAIL FROM:<a@b.example>\r\n"),
                        "503 5.5.1 Error: send HELO/EHLO first\r\n");
    const char *r = SEND(s, "EHLO x\r\n");
    assert_null(strstr(r, "STARTTLS"));
    assert_non_null(strstr(r, "250 ENHANCEDSTATUSCODES"));
    assert_string_equal(SEND(s, "STARTTLS\r\n"), "503 5.5.1 Error: TLS already active\r\n");
    smtp_session_free(s);
}

static void test_abort_and_replies_hook(void **state)
{
    (void)state;
    smtp_session_cfg c = cfg_default();
    fake f;
    smtp_session *s = start(&c, &f);
    SEND(s, "EHLO x\r\n");
    SEND(s, "NOOP\r\n");
    assert_int_equal(f.replies_seen, 2);
    smtp_session_abort(s, 421, "4.4.2 Error: timeout exceeded");
    assert_string_equal(s->out.data, "421 4.4.2 Error: timeout exceeded\r\n");
    assert_int_equal(s->state, SMTP_STATE_CLOSED);
    buf_reset(&s->out);
    assert_int_equal(smtp_session_feed(s, "NOOP\r\n", 6), SMTP_ACT_CLOSE);
    assert_int_equal(s->out.len, 0);
    smtp_session_free(s);
}


static void test_pipelining_before_ehlo(void **state)
{
    (void)state;
    smtp_session_cfg c = cfg_default();
    fake f;
    smtp_session *s = start(&c, &f);
    assert_string_equal(SEND(s, "EHLO x\r\nMAIL FROM:<a@b.example>\r\n"),
        "250-mx.test.example\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n"
        "250-SMTPUTF8\r\n250-CHUNKING\r\n250-DSN\r\n250-STARTTLS\r\n250 ENHANCEDSTATUSCODES\r\n"
        "554 5.5.0 Error: SMTP protocol synchronization (pipelining before EHLO)\r\n");
    assert_int_equal(last_act, SMTP_ACT_CLOSE);
    smtp_session_free(s);

    s = start(&c, &f);                  /* HELO clients may not pipeline at all */
    SEND(s, "HELO x\r\n");
    assert_non_null(strstr(SEND(s, "MAIL FROM:<a@b.example>\r\nRCPT TO:<r@y.example>\r\n"),
                           "554 5.5.0"));
    assert_int_equal(last_act, SMTP_ACT_CLOSE);
    smtp_session_free(s);

    s = start(&c, &f);                  /* after the EHLO reply it is fine */
    SEND(s, "EHLO x\r\n");
    assert_string_equal(SEND(s, "MAIL FROM:<a@b.example>\r\nRCPT TO:<r@y.example>\r\nRSET\r\n"),
                        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok\r\n");
    smtp_session_free(s);
}

static const char *const smuggle[] = {
    "\n.\n", "\r.\r", "\r.\n", "\n.\r", "\n.\r\n", "\r\n.\n", "\r.\r\n",
    "\r\n.\r", "\r\n\x00.\r\n",
};

/* Sends a message whose body holds a fake end of data and a smuggled
 * transaction, then the real end, through DATA or BDAT, in pieces of step
 * bytes. Returns the replies to the data. */
static const char *smuggle_send(smtp_session *s, size_t v, int bdat, size_t step)
{
    char msg[512];
    size_t flen = v == 8 ? 6 : strlen(smuggle[v]);
    int n = snprintf(msg, sizeof msg, "Subject: s\r\n\r\nhello");
    memcpy(msg + n, smuggle[v], flen);
    n += (int)flen;
    n += snprintf(msg + n, sizeof msg - (size_t)n,
                  "MAIL FROM:<evil@b.example>\r\nRCPT TO:<victim@y.example>\r\nDATA\r\n"
                  "Subject: smuggled\r\n\r\nsmuggled\r\n");
    SEND(s, "MAIL FROM:<a@b.example>\r\n");
    SEND(s, "RCPT TO:<r@y.example>\r\n");
    static char in[1024];
    size_t len;
    if (bdat) {
        int h = snprintf(in, sizeof in, "BDAT %d LAST\r\n", n);
        memcpy(in + h, msg, (size_t)n);
        len = (size_t)h + (size_t)n;
    } else {
        assert_non_null(strstr(SEND(s, "DATA\r\n"), "354"));
        memcpy(in, msg, (size_t)n);
        memcpy(in + n, ".\r\n", 3);
        len = (size_t)n + 3;
    }
    /* send_ uses strlen; feed directly (the NUL variant) */
    replies[0] = '\0';
    for (size_t off = 0; off < len;) {
        size_t k = step && len - off > step ? step : len - off;
        last_act = smtp_session_feed(s, in + off, k);
        off += k;
    }
    memcpy(replies, s->out.data, s->out.len);
    replies[s->out.len] = '\0';
    buf_reset(&s->out);
    return replies;
}

static void test_smuggling(void **state)
{
    (void)state;
    for (int normalize = 0; normalize <= 1; normalize++) {
        for (int bdat = 0; bdat <= 1; bdat++) {
            for (size_t v = 0; v < sizeof smuggle / sizeof smuggle[0]; v++) {
                for (size_t step = 0; step <= 1; step++) {
                    smtp_session_cfg c = cfg_default();
                    c.bare_lf_normalize = normalize;
                    fake f;
                    smtp_session *s = start(&c, &f);
                    SEND(s, "EHLO x\r\n");
                    const char *r = smuggle_send(s, v, bdat, step);
                    /* exactly one reply: the whole thing was one message */
                    const char *eol = strstr(r, "\r\n");
                    assert_non_null(eol);
                    assert_string_equal(eol, "\r\n");   /* exactly one reply */
                    if (!normalize || v == 8) {
                        assert_int_equal(r[0], '5');
                        assert_int_equal(f.commits, 0);
                    } else {
                        assert_memory_equal(r, "250 2.0.0 Ok", 12);
                        assert_int_equal(f.commits, 1);
                        assert_string_equal(f.rcpt0, "r@y.example");
                        assert_non_null(memmem(f.body, f.body_len, "smuggled", 8));
                    }
                    assert_int_equal(f.rcpt_checks, 1);   /* victim never checked */
                    assert_string_equal(SEND(s, "NOOP\r\n"), "250 2.0.0 Ok\r\n");
                    smtp_session_free(s);
                }
            }
        }
    }
}

static void test_bdat(void **state)
{
    (void)state;
    smtp_session_cfg c = cfg_default();
    c.max_errors = 100;
    fake f;
    smtp_session *s = start(&c, &f);
    assert_string_equal(SEND(s, "BDAT 0\r\n"), "503 5.5.1 Error: send EHLO first\r\n");
    assert_non_null(strstr(SEND(s, "BDAT 5\r\nabcde"), "554 5.5.0"));   /* pipelined */
    smtp_session_free(s);
    s = start(&c, &f);
    SEND(s, "EHLO x\r\n");
    assert_string_equal(SEND(s, "BDAT 3\r\nxyzNOOP\r\n"),
                        "503 5.5.1 Error: need MAIL and RCPT commands\r\n250 2.0.0 Ok\r\n");
    assert_string_equal(SEND(s, "BDAT x\r\n"), "501 5.5.4 Syntax: BDAT chunk-size [LAST]\r\n");
    SEND(s, "MAIL FROM:<a@b.example>\r\n");
    SEND(s, "RCPT TO:<r@y.example>\r\n");
    assert_string_equal(send_(s, "BDAT 14\r\nSubject: x\r\n\r\nBDAT 7 LAST\r\n.\r\nhi\r\n", 1),
                        "250 2.0.0 14 octets received\r\n250 2.0.0 Ok: queued as QID1\r\n");
    assert_int_equal(f.body_len, 21);
    assert_memory_equal(f.body, "Subject: x\r\n\r\n.\r\nhi\r\n", 21);
    assert_null(s->tx);
    /* DATA after BDAT is refused; BDAT 0 LAST ends */
    SEND(s, "MAIL FROM:<a@b.example>\r\n");
    SEND(s, "RCPT TO:<r@y.example>\r\n");
    SEND(s, "BDAT 4\r\nA: b\r\n");
    assert_string_equal(SEND(s, "DATA\r\n"), "503 5.5.1 Error: DATA after BDAT\r\n");
    assert_string_equal(SEND(s, "BDAT 0 LAST\r\n"), "250 2.0.0 Ok: queued as QID2\r\n");
    /* over the size limit: 552 after the chunk, transaction gone */
    SEND(s, "MAIL FROM:<a@b.example>\r\n");
    SEND(s, "RCPT TO:<r@y.example>\r\n");
    char big[1200 + 32];
    int h = snprintf(big, sizeof big, "BDAT 1200\r\n");
    memset(big + h, 'x', 1200);
    big[h + 1200] = '\0';
    assert_string_equal(SEND(s, big),
        "552 5.3.4 Error: message size exceeds fixed maximum message size\r\n");
    assert_null(s->tx);
    assert_string_equal(SEND(s, "BDAT 2 LAST\r\nab"),
                        "503 5.5.1 Error: need MAIL and RCPT commands\r\n");
    assert_int_equal(f.commits, 2);
    smtp_session_free(s);
}

static void test_smtputf8_and_dsn(void **state)
{
    (void)state;
    smtp_session_cfg c = cfg_default();
    c.max_errors = 100;
    fake f;
    smtp_session *s = start(&c, &f);
    SEND(s, "EHLO x\r\n");
    assert_string_equal(SEND(s, "MAIL FROM:<j\xc3\xb6rg@b.example>\r\n"),
                        "553 5.6.7 Error: non-ASCII address requires SMTPUTF8\r\n");
    assert_string_equal(SEND(s, "MAIL FROM:<j\xc3\xb6rg@b.example> SMTPUTF8 RET=HDRS ENVID=id+2B1\r\n"),
                        "250 2.1.0 Ok\r\n");
    assert_string_equal(SEND(s, "RCPT TO:<\xc3\xa9t\xc3\xa9@y.example> NOTIFY=SUCCESS,FAILURE "
                                "ORCPT=rfc822;orig+40x@y.example\r\n"), "250 2.1.5 Ok\r\n");
    assert_string_equal(SEND(s, "RCPT TO:<r@y.example> NOTIFY=BOGUS\r\n"),
                        "501 5.5.4 Bad RCPT parameter value\r\n");
    SEND(s, "DATA\r\n");
    assert_string_equal(SEND(s, "Subject: x\r\n\r\nhi\r\n.\r\n"), "250 2.0.0 Ok: queued as QID1\r\n");
    assert_int_equal(f.smtputf8, 1);
    assert_int_equal(f.dsn_ret, SMTP_RET_HDRS);
    assert_string_equal(f.envid, "id+1");
    assert_string_equal(f.rcpt0, "\xc3\xa9t\xc3\xa9@y.example");
    assert_int_equal(f.notify0, SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE);
    assert_string_equal(f.orcpt0, "rfc822;orig@x@y.example");
    /* without SMTPUTF8 on MAIL, a UTF-8 recipient is refused */
    SEND(s, "MAIL FROM:<a@b.example>\r\n");
    assert_string_equal(SEND(s, "RCPT TO:<\xc3\xa9@y.example>\r\n"),
                        "553 5.6.7 Error: non-ASCII address requires SMTPUTF8\r\n");
    smtp_session_free(s);
}

static void test_header_limit_and_nul(void **state)
{
    (void)state;
    smtp_session_cfg c = cfg_default();
    c.max_header_size = 30;
    fake f;
    smtp_session *s = start(&c, &f);
    SEND(s, "EHLO x\r\n");
    SEND(s, "MAIL FROM:<a@b.example>\r\n");
    SEND(s, "RCPT TO:<r@y.example>\r\n");
    SEND(s, "DATA\r\n");
    assert_string_equal(SEND(s, "Subject: a rather long subject line\r\n\r\nx\r\n.\r\n"),
        "552 5.3.4 Error: message header section exceeds the size limit\r\n");
    SEND(s, "MAIL FROM:<a@b.example>\r\n");
    SEND(s, "RCPT TO:<r@y.example>\r\n");
    SEND(s, "DATA\r\n");
    assert_int_equal(smtp_session_feed(s, "A: b\r\n\r\nx\0y\r\n.\r\n", 16), SMTP_ACT_CONTINUE);
    assert_string_equal(s->out.data, "550 5.6.0 Error: NUL byte in message data\r\n");
    buf_reset(&s->out);
    assert_int_equal(f.commits, 0);
    smtp_session_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipelining_before_ehlo),
        cmocka_unit_test(test_smuggling),
        cmocka_unit_test(test_bdat),
        cmocka_unit_test(test_smtputf8_and_dsn),
        cmocka_unit_test(test_header_limit_and_nul),
        cmocka_unit_test(test_ehlo_helo),
        cmocka_unit_test(test_before_helo),
        cmocka_unit_test(test_transaction_pipelined),
        cmocka_unit_test(test_transaction_bytewise),
        cmocka_unit_test(test_transaction_chunks),
        cmocka_unit_test(test_sequence_errors),
        cmocka_unit_test(test_rcpt_verdicts),
        cmocka_unit_test(test_mail_params),
        cmocka_unit_test(test_data_errors),
        cmocka_unit_test(test_commit_failure),
        cmocka_unit_test(test_long_command_line),
        cmocka_unit_test(test_garbage_and_error_limit),
        cmocka_unit_test(test_starttls),
        cmocka_unit_test(test_abort_and_replies_hook),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
