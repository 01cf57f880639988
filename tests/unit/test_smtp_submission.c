/*
 * test_smtp_submission.c - the submission parts of the SMTP session
 * without sockets or a database: strict base64 and the PLAIN/LOGIN
 * exchanges (smtp_sasl.c), AUTH and the SUBMISSION policy in the session
 * (smtp_session_auth.c) with fake credential and sender callbacks, and the
 * From: mailbox parser (smtp_submit_from.c).
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
#include "../../services/mx/smtp_submit_from.c"

typedef struct fake {
    int  auth_calls, commits;
    enum smtp_cred cred;              /* what auth_check answers for a good password */
    char last_user[300];
} fake;

static enum smtp_rcpt_verdict fake_rcpt(void *arg, const char *addr)
{
    (void)arg; (void)addr;
    return SMTP_RCPT_ACCEPT;
}

static int fake_commit(void *arg, smtp_session *s, smtp_tx *tx, char *qid, size_t qidlen)
{
    fake *f = arg;
    (void)s; (void)tx;
    f->commits++;
    snprintf(qid, qidlen, "QID%d", f->commits);
    return 0;
}

static enum smtp_cred fake_auth(void *arg, const char *user, const char *pass)
{
    fake *f = arg;
    f->auth_calls++;
    snprintf(f->last_user, sizeof f->last_user, "%s", user);
    if (strcmp(user, "alice") == 0 && strcmp(pass, "s3cret pw") == 0)
        return f->cred;
    return SMTP_CRED_BAD;
}

static enum smtp_cred fake_sender(void *arg, const char *user, const char *from)
{
    (void)arg;
    if (from[0] == '\0' || (strcmp(user, "alice") == 0 && strstr(from, "@alice.example")))
        return SMTP_CRED_OK;
    if (strncmp(from, "temp", 4) == 0)
        return SMTP_CRED_TEMPFAIL;
    return SMTP_CRED_BAD;
}

static smtp_session_cfg cfg_sub(void)
{
    smtp_session_cfg c = {
        .hostname = "mx.test.example", .max_message_size = 1000, .max_rcpts = 3,
        .max_errors = 20, .tls_available = 1, .rcpt_check = fake_rcpt,
        .commit = fake_commit, .submission = 1, .auth_check = fake_auth,
        .sender_check = fake_sender,
    };
    return c;
}

static char replies[65536];

static const char *send_(smtp_session *s, const char *in)
{
    size_t n = strlen(in), off = 0;
    enum smtp_action act = SMTP_ACT_CONTINUE;
    while (off < n && act == SMTP_ACT_CONTINUE) {
        size_t k = n - off > SMTP_FEED_MAX ? SMTP_FEED_MAX : n - off;
        act = smtp_session_feed(s, in + off, k);
        off += k;
    }
    memcpy(replies, s->out.data, s->out.len);
    replies[s->out.len] = '\0';
    buf_reset(&s->out);
    return replies;
}

/* A session on a submission listener after STARTTLS and EHLO. */
static smtp_session *start_tls(const smtp_session_cfg *c, fake *f)
{
    memset(f, 0, sizeof *f);
    f->cred = SMTP_CRED_OK;
    smtp_session *s = smtp_session_create(c, "192.0.2.7", f);
    buf_reset(&s->out);
    smtp_session_tls_started(s);
    assert_non_null(strstr(send_(s, "EHLO client.example\r\n"), "250-AUTH PLAIN LOGIN\r\n"));
    return s;
}

static void test_b64(void **state)
{
    (void)state;
    unsigned char out[16];
    char enc[32];
    assert_int_equal(smtp_sasl_b64_decode("YWJj", 4, out, sizeof out), 3);
    assert_memory_equal(out, "abc", 3);
    assert_int_equal(smtp_sasl_b64_decode("YQ==", 4, out, sizeof out), 1);
    assert_int_equal(smtp_sasl_b64_decode("YWI=", 4, out, sizeof out), 2);
    assert_int_equal(smtp_sasl_b64_decode("", 0, out, sizeof out), 0);
    assert_int_equal(smtp_sasl_b64_decode("YQ=", 3, out, sizeof out), -1);    /* length */
    assert_int_equal(smtp_sasl_b64_decode("YR==", 4, out, sizeof out), -1);   /* not canonical */
    assert_int_equal(smtp_sasl_b64_decode("Y=Q=", 4, out, sizeof out), -1);   /* data after = */
    assert_int_equal(smtp_sasl_b64_decode("YQ==YQ==", 8, out, sizeof out), -1);
    assert_int_equal(smtp_sasl_b64_decode("YW J", 4, out, sizeof out), -1);   /* blank */
    assert_int_equal(smtp_sasl_b64_decode("YWJjZGVm", 8, out, 5), -1);       /* too long */
    assert_int_equal(smtp_sasl_b64_encode((const unsigned char *)"Username:", 9, enc,
                                          sizeof enc), 0);
    assert_string_equal(enc, "VXNlcm5hbWU6");
    assert_int_equal(smtp_sasl_b64_encode((const unsigned char *)"ab", 2, enc, 4), -1);
}

static void test_sasl_plain_login(void **state)
{
    (void)state;
    smtp_sasl x = { 0 };
    char ch[SMTP_SASL_CHALLENGE_MAX];
    /* "\0alice\0pw" */
    assert_int_equal(smtp_sasl_start(&x, "PLAIN AGFsaWNlAHB3", ch, sizeof ch), SMTP_SASL_DONE);
    assert_string_equal(x.user, "alice");
    assert_string_equal(x.pass, "pw");
    smtp_sasl_clear(&x);
    assert_string_equal(x.pass, "");
    /* "bob\0alice\0pw": acting as another user is refused */
    assert_int_equal(smtp_sasl_start(&x, "PLAIN Ym9iAGFsaWNlAHB3", ch, sizeof ch),
                     SMTP_SASL_BAD_MESSAGE);
    /* "alice\0alice\0pw": the same identity is fine */
    assert_int_equal(smtp_sasl_start(&x, "plain YWxpY2UAYWxpY2UAcHc=", ch, sizeof ch),
                     SMTP_SASL_DONE);
    /* no second NUL */
    assert_int_equal(smtp_sasl_start(&x, "PLAIN AGFsaWNl", ch, sizeof ch), SMTP_SASL_BAD_MESSAGE);
    assert_int_equal(smtp_sasl_start(&x, "PLAIN", ch, sizeof ch), SMTP_SASL_CONTINUE);
    assert_string_equal(ch, "");
    assert_true(smtp_sasl_active(&x));
    assert_int_equal(smtp_sasl_step(&x, "*", 1, ch, sizeof ch), SMTP_SASL_CANCELLED);
    assert_false(smtp_sasl_active(&x));
    assert_int_equal(smtp_sasl_start(&x, "LOGIN", ch, sizeof ch), SMTP_SASL_CONTINUE);
    assert_string_equal(ch, "VXNlcm5hbWU6");
    assert_int_equal(smtp_sasl_step(&x, "YWxpY2U=", 8, ch, sizeof ch), SMTP_SASL_CONTINUE);
    assert_string_equal(ch, "UGFzc3dvcmQ6");
    assert_int_equal(smtp_sasl_step(&x, "cHc=", 4, ch, sizeof ch), SMTP_SASL_DONE);
    assert_string_equal(x.user, "alice");
    assert_string_equal(x.pass, "pw");
    assert_int_equal(smtp_sasl_start(&x, "LOGIN", ch, sizeof ch), SMTP_SASL_CONTINUE);
    assert_int_equal(smtp_sasl_step(&x, "!!!!", 4, ch, sizeof ch), SMTP_SASL_BAD_B64);
    assert_false(smtp_sasl_active(&x));
    assert_int_equal(smtp_sasl_start(&x, "CRAM-MD5", ch, sizeof ch), SMTP_SASL_BAD_MECH);
    assert_int_equal(smtp_sasl_start(&x, "", ch, sizeof ch), SMTP_SASL_SYNTAX);
    assert_int_equal(smtp_sasl_start(&x, "PLAIN a b", ch, sizeof ch), SMTP_SASL_SYNTAX);
}

static void test_auth_needs_tls_and_submission(void **state)
{
    (void)state;
    smtp_session_cfg c = cfg_sub();
    fake f = { 0 };
    smtp_session *s = smtp_session_create(&c, "192.0.2.7", &f);
    buf_reset(&s->out);
    const char *r = send_(s, "EHLO client.example\r\n");
    assert_null(strstr(r, "AUTH"));                   /* not before TLS */
    assert_string_equal(send_(s, "AUTH PLAIN AGFsaWNlAHMzY3JldCBwdw==\r\n"),
                        "538 5.7.11 Encryption required for requested authentication "
                        "mechanism\r\n");
    assert_string_equal(send_(s, "MAIL FROM:<a@alice.example>\r\n"),
                        "530 5.7.0 Authentication required\r\n");
    assert_int_equal(f.auth_calls, 0);
    smtp_session_free(s);

    smtp_session_cfg mx = cfg_sub();                  /* the MX policy: no AUTH at all */
    mx.submission = 0;
    s = smtp_session_create(&mx, "192.0.2.7", &f);
    buf_reset(&s->out);
    smtp_session_tls_started(s);
    assert_null(strstr(send_(s, "EHLO client.example\r\n"), "AUTH"));
    assert_string_equal(send_(s, "AUTH PLAIN AGFsaWNlAHMzY3JldCBwdw==\r\n"),
                        "503 5.5.1 Error: authentication not enabled\r\n");
    assert_string_equal(send_(s, "MAIL FROM:<x@y.example>\r\n"), "250 2.1.0 Ok\r\n");
    smtp_session_free(s);
}

static void test_auth_plain_then_mail(void **state)
{
    (void)state;
    smtp_session_cfg c = cfg_sub();
    fake f;
    smtp_session *s = start_tls(&c, &f);
    assert_string_equal(send_(s, "MAIL FROM:<a@alice.example>\r\n"),
                        "530 5.7.0 Authentication required\r\n");
    /* "\0alice\0s3cret pw" */
    assert_string_equal(send_(s, "AUTH PLAIN AGFsaWNlAHMzY3JldCBwdw==\r\n"),
                        "235 2.7.0 Authentication successful\r\n");
    assert_string_equal(s->auth_user, "alice");
    assert_string_equal(s->sasl.pass, "");            /* wiped */
    assert_string_equal(send_(s, "AUTH PLAIN AGFsaWNlAHMzY3JldCBwdw==\r\n"),
                        "503 5.5.1 Error: already authenticated\r\n");
    assert_string_equal(send_(s, "MAIL FROM:<bob@bob.example>\r\n"),
                        "553 5.7.1 <bob@bob.example>: Sender address not owned by user "
                        "alice\r\n");
    assert_string_equal(send_(s, "MAIL FROM:<temp@x.example>\r\n"),
                        "451 4.7.1 Error: sender check failed, try again later\r\n");
    assert_string_equal(send_(s, "MAIL FROM:<a@alice.example> AUTH=<>\r\n"),
                        "250 2.1.0 Ok\r\n");
    assert_string_equal(send_(s, "RSET\r\n"), "250 2.0.0 Ok\r\n");
    assert_string_equal(send_(s, "MAIL FROM:<a@alice.example> AUTH=a+2Bb@alice.example\r\n"),
                        "250 2.1.0 Ok\r\n");
    assert_string_equal(send_(s, "RCPT TO:<r@remote.example>\r\n"), "250 2.1.5 Ok\r\n");
    assert_string_equal(send_(s, "DATA\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
    assert_string_equal(send_(s, "From: a@alice.example\r\n\r\nhi\r\n.\r\n"),
                        "250 2.0.0 Ok: queued as QID1\r\n");
    assert_string_equal(send_(s, "MAIL FROM:<> AUTH=x=y\r\n"),
                        "501 5.5.4 Bad MAIL parameter value\r\n");
    smtp_session_free(s);
}

static void test_auth_login_cancel_errors(void **state)
{
    (void)state;
    smtp_session_cfg c = cfg_sub();
    fake f;
    smtp_session *s = start_tls(&c, &f);
    assert_string_equal(send_(s, "AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
    assert_string_equal(send_(s, "*\r\n"), "501 5.0.0 Authentication cancelled\r\n");
    assert_string_equal(send_(s, "AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
    assert_string_equal(send_(s, "not base64!\r\n"), "501 5.5.2 Error: invalid base64 data\r\n");
    assert_string_equal(send_(s, "AUTH CRAM-MD5\r\n"),
                        "504 5.5.4 Error: unrecognized authentication mechanism\r\n");
    assert_string_equal(send_(s, "AUTH LOGIN YWxpY2U=\r\n"), "334 UGFzc3dvcmQ6\r\n");
    assert_string_equal(send_(s, "czNjcmV0IHB3\r\n"), "235 2.7.0 Authentication successful\r\n");
    assert_string_equal(s->auth_method, "LOGIN");
    smtp_session_free(s);

    /* the credential store is down: 454, not counted as a failure */
    s = start_tls(&c, &f);
    f.cred = SMTP_CRED_TEMPFAIL;
    assert_string_equal(send_(s, "AUTH PLAIN AGFsaWNlAHMzY3JldCBwdw==\r\n"),
                        "454 4.7.0 Temporary authentication failure, try again later\r\n");
    assert_int_equal(s->auth_failures, 0);
    assert_string_equal(s->auth_user, "");
    smtp_session_free(s);

    /* three wrong passwords: 421 and close */
    s = start_tls(&c, &f);
    const char *bad = "AUTH PLAIN AGFsaWNlAHdyb25n\r\n";     /* "\0alice\0wrong" */
    assert_string_equal(send_(s, bad), "535 5.7.8 Error: authentication credentials invalid\r\n");
    assert_string_equal(send_(s, bad), "535 5.7.8 Error: authentication credentials invalid\r\n");
    assert_string_equal(send_(s, bad), "535 5.7.8 Error: authentication credentials invalid\r\n"
                        "421 4.7.0 Error: too many failed authentication attempts\r\n");
    assert_int_equal(s->state, SMTP_STATE_CLOSED);
    smtp_session_free(s);
}

static void test_auth_during_exchange_pipelined(void **state)
{
    (void)state;
    smtp_session_cfg c = cfg_sub();
    fake f;
    smtp_session *s = start_tls(&c, &f);
    /* the response lines are not commands, even when they look like one */
    assert_string_equal(send_(s, "AUTH PLAIN\r\n"), "334 \r\n");
    assert_string_equal(send_(s, "QUIT\r\n"),       /* valid base64, not a PLAIN message */
                        "535 5.7.8 Error: authentication credentials invalid\r\n");
    assert_int_equal(s->state, SMTP_STATE_CMD);
    assert_string_equal(send_(s, "AUTH PLAIN\r\n"), "334 \r\n");
    assert_string_equal(send_(s, "RSET now\r\n"), "501 5.5.2 Error: invalid base64 data\r\n");
    assert_int_equal(f.auth_calls, 0);
    /* an over-long response line ends the exchange: the next line is a command */
    assert_string_equal(send_(s, "AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
    char longline[700];
    memset(longline, 'Q', sizeof longline - 3);
    memcpy(longline + sizeof longline - 3, "\r\n", 3);
    assert_string_equal(send_(s, longline), "500 5.5.2 Error: line too long\r\n");
    assert_false(smtp_sasl_active(&s->sasl));
    assert_string_equal(send_(s, "NOOP\r\n"), "250 2.0.0 Ok\r\n");
    smtp_session_free(s);
}

static void test_from_parse(void **state)
{
    (void)state;
    char out[4][SMTP_PATH_MAX + 1];
    assert_int_equal(smtp_submit_from_parse("a@Example.ORG", out, 4), 1);
    assert_string_equal(out[0], "a@example.org");
    assert_int_equal(smtp_submit_from_parse("\"Doe, John\" <j@x.example>", out, 4), 1);
    assert_string_equal(out[0], "j@x.example");
    assert_int_equal(smtp_submit_from_parse("John (the boss) Doe <j@x.example> (c)", out, 4), 1);
    assert_int_equal(smtp_submit_from_parse("a@x.example, B <b@y.example>", out, 4), 2);
    assert_string_equal(out[1], "b@y.example");
    assert_int_equal(smtp_submit_from_parse("team: a@x.example, b@y.example;", out, 4), 2);
    assert_int_equal(smtp_submit_from_parse("undisclosed:;", out, 4), 0);
    assert_int_equal(smtp_submit_from_parse("not an address", out, 4), -1);
    assert_int_equal(smtp_submit_from_parse("<a@x.example> <b@y.example>", out, 4), -1);
    assert_int_equal(smtp_submit_from_parse("<a@x.example", out, 4), -1);
    assert_int_equal(smtp_submit_from_parse("\"x y\"@x.example", out, 4), -1);
    assert_int_equal(smtp_submit_from_parse("a@x.example, b@x.example", out, 1), -1);
    assert_int_equal(smtp_submit_from_parse("<@relay.example:a@x.example>", out, 4), -1);
    assert_int_equal(smtp_submit_from_parse("a b@x.example", out, 4), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64),
        cmocka_unit_test(test_sasl_plain_login),
        cmocka_unit_test(test_auth_needs_tls_and_submission),
        cmocka_unit_test(test_auth_plain_then_mail),
        cmocka_unit_test(test_auth_login_cancel_errors),
        cmocka_unit_test(test_auth_during_exchange_pipelined),
        cmocka_unit_test(test_from_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
