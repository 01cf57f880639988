/*
 * test_smtp_session_mail.c - the optional MAIL FROM hook of the SMTP state
 * machine (smtp_session_cfg.mail_check, services/mx/smtp_session.c): a
 * refusal answers the hook's reply (or 550 5.7.1 by default), rolls the
 * transaction back (the next MAIL is not "nested", RCPT needs MAIL), the
 * reply callback still sees the reason, and acceptance goes on as before.
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
    int  calls;
    char from[300];
    char last_reason[32];
    int  last_code;
} fake;

static enum smtp_rcpt_verdict fake_rcpt(void *arg, const char *addr)
{
    (void)arg;
    (void)addr;
    return SMTP_RCPT_ACCEPT;
}

static int fake_commit(void *arg, smtp_session *s, smtp_tx *tx, char *qid, size_t qidlen)
{
    (void)arg; (void)s; (void)tx;
    snprintf(qid, qidlen, "QID");
    return 0;
}

static void fake_reply(void *arg, smtp_session *s, int code, const char *text)
{
    fake *f = arg;
    (void)text;
    f->last_code = code;
    snprintf(f->last_reason, sizeof f->last_reason, "%s",
             s->tx != NULL && s->tx->reply_reason != NULL ? s->tx->reply_reason : "");
}

/* Refuses senders at blocked.test with a 550 and a reason, senders at
 * slow.test with a 450, and "bare@..." with no reply of its own. */
static int fake_mail(void *arg, smtp_session *s, smtp_tx *tx)
{
    fake *f = arg;
    (void)s;
    f->calls++;
    snprintf(f->from, sizeof f->from, "%s", tx->mail_from);
    if (strstr(tx->mail_from, "@blocked.test") != NULL) {
        tx->reply_code = 550;
        tx->reply_reason = "block";
        snprintf(tx->reply_text, sizeof tx->reply_text, "5.7.1 <%.200s>: Sender address rejected",
                 tx->mail_from);
        return -1;
    }
    if (strstr(tx->mail_from, "@slow.test") != NULL) {
        tx->reply_code = 450;
        tx->reply_reason = "ratelimit";
        snprintf(tx->reply_text, sizeof tx->reply_text, "4.7.1 rate limit exceeded");
        return -1;
    }
    return strncmp(tx->mail_from, "bare@", 5) == 0 ? -1 : 0;
}

static char *say(smtp_session *s, const char *in)
{
    smtp_session_feed(s, in, strlen(in));
    char *out = strndup(s->out.data, s->out.len);
    buf_reset(&s->out);
    return out;
}

static void test_mail_hook(void **state)
{
    (void)state;
    fake f = { 0 };
    smtp_session_cfg cfg = {
        .hostname = "mx.test.example", .max_message_size = 1000, .max_rcpts = 3,
        .max_errors = 10, .rcpt_check = fake_rcpt, .commit = fake_commit,
        .on_reply = fake_reply, .mail_check = fake_mail,
    };
    smtp_session *s = smtp_session_create(&cfg, "192.0.2.1", &f);
    buf_reset(&s->out);
    free(say(s, "EHLO client.example\r\n"));

    char *r = say(s, "MAIL FROM:<x@blocked.test>\r\n");
    assert_string_equal(r, "550 5.7.1 <x@blocked.test>: Sender address rejected\r\n");
    free(r);
    assert_int_equal(f.calls, 1);
    assert_string_equal(f.from, "x@blocked.test");
    assert_string_equal(f.last_reason, "block");      /* on_reply saw it */
    assert_null(s->tx);                                /* rolled back */
    r = say(s, "RCPT TO:<a@b.example>\r\n");
    assert_string_equal(r, "503 5.5.1 Error: need MAIL command\r\n");
    free(r);

    r = say(s, "MAIL FROM:<y@slow.test>\r\n");
    assert_string_equal(r, "450 4.7.1 rate limit exceeded\r\n");
    free(r);
    assert_string_equal(f.last_reason, "ratelimit");

    r = say(s, "MAIL FROM:<bare@x.test>\r\n");
    assert_string_equal(r, "550 5.7.1 Sender address rejected\r\n");
    free(r);

    r = say(s, "MAIL FROM:<ok@fine.test>\r\n");       /* not "nested" */
    assert_string_equal(r, "250 2.1.0 Ok\r\n");
    free(r);
    r = say(s, "RCPT TO:<a@b.example>\r\nDATA\r\n");
    assert_string_equal(r, "250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n");
    free(r);
    r = say(s, "Subject: x\r\n\r\nhi\r\n.\r\n");
    assert_string_equal(r, "250 2.0.0 Ok: queued as QID\r\n");
    free(r);
    assert_int_equal(f.calls, 4);
    smtp_session_free(s);

    /* without a hook (NULL), MAIL is accepted as before */
    cfg.mail_check = NULL;
    s = smtp_session_create(&cfg, "192.0.2.1", &f);
    buf_reset(&s->out);
    free(say(s, "EHLO client.example\r\n"));
    r = say(s, "MAIL FROM:<x@blocked.test>\r\n");
    assert_string_equal(r, "250 2.1.0 Ok\r\n");
    free(r);
    smtp_session_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mail_hook),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
