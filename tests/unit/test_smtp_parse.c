/*
 * test_smtp_parse.c - unit tests of services/mx/smtp_parse.c: command
 * verbs, MAIL/RCPT paths and ESMTP parameters (SIZE, BODY, SMTPUTF8, DSN),
 * xtext, BDAT arguments, limits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include "../../services/mx/smtp_parse.c"

static enum smtp_parse_result parse(const char *line, smtp_cmd *c)
{
    return smtp_cmd_parse(line, strlen(line), c);
}

static void test_verbs(void **state)
{
    (void)state;
    static const struct { const char *line; enum smtp_verb verb; const char *arg; } ok[] = {
        { "EHLO client.example", SMTP_VERB_EHLO, "client.example" },
        { "ehlo client.example  ", SMTP_VERB_EHLO, "client.example" },
        { "HELO x", SMTP_VERB_HELO, "x" },
        { "MAIL FROM:<a@b.example> SIZE=10", SMTP_VERB_MAIL, "FROM:<a@b.example> SIZE=10" },
        { "Rcpt To:<a@b>", SMTP_VERB_RCPT, "To:<a@b>" },
        { "DATA", SMTP_VERB_DATA, "" },
        { "RSET", SMTP_VERB_RSET, "" },
        { "NOOP anything", SMTP_VERB_NOOP, "anything" },
        { "QUIT", SMTP_VERB_QUIT, "" },
        { "VRFY postmaster", SMTP_VERB_VRFY, "postmaster" },
        { "STARTTLS", SMTP_VERB_STARTTLS, "" },
        { "starttls", SMTP_VERB_STARTTLS, "" },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        smtp_cmd c;
        assert_int_equal(parse(ok[i].line, &c), SMTP_PARSE_OK);
        assert_int_equal(c.verb, ok[i].verb);
        assert_string_equal(c.arg, ok[i].arg);
        assert_int_equal(c.arg_len, strlen(ok[i].arg));
    }
}

static void test_unknown_and_garbage(void **state)
{
    (void)state;
    smtp_cmd c;
    assert_int_equal(parse("HELLO x", &c), SMTP_PARSE_UNKNOWN);
    assert_int_equal(parse("MAILFROM:<a@b>", &c), SMTP_PARSE_UNKNOWN);
    assert_int_equal(parse("", &c), SMTP_PARSE_UNKNOWN);
    assert_int_equal(parse(" EHLO x", &c), SMTP_PARSE_UNKNOWN);
    assert_int_equal(parse("AUTHX PLAIN", &c), SMTP_PARSE_UNKNOWN);
    assert_int_equal(parse("AUTH PLAIN", &c), SMTP_PARSE_OK);          /* RFC 4954 */
    assert_int_equal(c.verb, SMTP_VERB_AUTH);
    assert_int_equal(parse("EHLO \x01x", &c), SMTP_PARSE_BAD_BYTES);
    assert_int_equal(parse("EHLO caf\xc3\xa9", &c), SMTP_PARSE_OK);   /* UTF-8: EHLO refuses it */
    assert_true(c.utf8);
    assert_int_equal(parse("EHLO caf\xe9", &c), SMTP_PARSE_BAD_BYTES);  /* Latin-1 */
    assert_int_equal(parse("NOOP \xc0\x80", &c), SMTP_PARSE_BAD_BYTES); /* overlong */
    assert_int_equal(parse("NOOP \x7f", &c), SMTP_PARSE_BAD_BYTES);
    assert_int_equal(smtp_cmd_parse("NOOP\0x", 6, &c), SMTP_PARSE_BAD_BYTES);
    assert_int_equal(parse("\x16\x03\x01", &c), SMTP_PARSE_BAD_BYTES);
    char big[SMTP_LINE_MAX + 1];
    memset(big, 'a', sizeof big);
    assert_int_equal(smtp_cmd_parse(big, sizeof big, &c), SMTP_PARSE_BAD_BYTES);
}

static void test_mail(void **state)
{
    (void)state;
    smtp_mail_args a;
    assert_int_equal(smtp_mail_parse("FROM:<a@b.example>", 1, &a), SMTP_PATH_OK);
    assert_string_equal(a.addr, "a@b.example");
    assert_true(a.size == -1);
    assert_int_equal(a.body_8bit, 0);
    assert_int_equal(smtp_mail_parse("from:<>", 0, &a), SMTP_PATH_OK);
    assert_string_equal(a.addr, "");
    assert_int_equal(smtp_mail_parse("FROM: <a@b.example>", 0, &a), SMTP_PATH_OK);
    assert_int_equal(smtp_mail_parse("FROM:<a@b> SIZE=1000 BODY=8BITMIME", 1, &a), SMTP_PATH_OK);
    assert_true(a.size == 1000);
    assert_int_equal(a.body_8bit, 1);
    assert_int_equal(smtp_mail_parse("FROM:<a@b> body=7bit  size=0", 1, &a), SMTP_PATH_OK);
    assert_true(a.size == 0);
    assert_int_equal(smtp_mail_parse("FROM:<\"x y\"@b>", 1, &a), SMTP_PATH_OK);
}

static void test_mail_errors(void **state)
{
    (void)state;
    smtp_mail_args a;
    assert_int_equal(smtp_mail_parse("<a@b>", 1, &a), SMTP_PATH_SYNTAX);
    assert_int_equal(smtp_mail_parse("TO:<a@b>", 1, &a), SMTP_PATH_SYNTAX);
    assert_int_equal(smtp_mail_parse("FROM:a@b", 1, &a), SMTP_PATH_BAD_ADDR);
    assert_int_equal(smtp_mail_parse("FROM:<a@b", 1, &a), SMTP_PATH_BAD_ADDR);
    assert_int_equal(smtp_mail_parse("FROM:<a b@c>", 1, &a), SMTP_PATH_BAD_ADDR);
    assert_int_equal(smtp_mail_parse("FROM:<@r.example:a@b>", 1, &a), SMTP_PATH_ROUTE);
    assert_int_equal(smtp_mail_parse("FROM:<a%c@b>", 1, &a), SMTP_PATH_ROUTE);
    assert_int_equal(smtp_mail_parse("FROM:<a!c@b>", 1, &a), SMTP_PATH_ROUTE);
    assert_int_equal(smtp_mail_parse("FROM:<a@b>SIZE=1", 1, &a), SMTP_PATH_BAD_PARAM);
    assert_int_equal(smtp_mail_parse("FROM:<a@b> SIZE=abc", 1, &a), SMTP_PATH_BAD_PARAM);
    assert_int_equal(smtp_mail_parse("FROM:<a@b> SIZE=", 1, &a), SMTP_PATH_BAD_PARAM);
    assert_int_equal(smtp_mail_parse("FROM:<a@b> SIZE", 1, &a), SMTP_PATH_BAD_PARAM);
    assert_int_equal(smtp_mail_parse("FROM:<a@b> SIZE=1 SIZE=2", 1, &a), SMTP_PATH_BAD_PARAM);
    assert_int_equal(smtp_mail_parse("FROM:<a@b> SIZE=9999999999999999999999", 1, &a),
                     SMTP_PATH_BAD_PARAM);
    assert_int_equal(smtp_mail_parse("FROM:<a@b> BODY=BINARYMIME", 1, &a), SMTP_PATH_BAD_PARAM);
    assert_int_equal(smtp_mail_parse("FROM:<a@b> AUTH=<>", 1, &a), SMTP_PATH_OK);   /* RFC 4954 §5 */
    assert_int_equal(smtp_mail_parse("FROM:<a@b> AUTH=<> AUTH=<>", 1, &a), SMTP_PATH_BAD_PARAM);
    assert_int_equal(smtp_mail_parse("FROM:<a@b> AUTH", 1, &a), SMTP_PATH_BAD_PARAM);
    assert_int_equal(smtp_mail_parse("FROM:<a@b> XFOO=1", 1, &a), SMTP_PATH_UNKNOWN_PARAM);
    /* parameters need EHLO */
    assert_int_equal(smtp_mail_parse("FROM:<a@b> SIZE=10", 0, &a), SMTP_PATH_UNKNOWN_PARAM);
    /* path length limit: local part over 64 octets */
    char local[66], line[400];
    memset(local, 'x', 65);
    local[65] = '\0';
    snprintf(line, sizeof line, "FROM:<%s@b.example>", local);
    assert_int_equal(smtp_mail_parse(line, 1, &a), SMTP_PATH_BAD_ADDR);
}

static void test_rcpt(void **state)
{
    (void)state;
    smtp_rcpt_args r;
    assert_int_equal(smtp_rcpt_parse("TO:<list@lists.example>", 1, 0, &r), SMTP_PATH_OK);
    assert_string_equal(r.addr, "list@lists.example");
    assert_int_equal(smtp_rcpt_parse("to: <x@y>", 0, 0, &r), SMTP_PATH_OK);
    assert_string_equal(r.addr, "x@y");
    assert_int_equal(smtp_rcpt_parse("TO:<>", 1, 0, &r), SMTP_PATH_BAD_ADDR);
    assert_int_equal(smtp_rcpt_parse("FROM:<x@y>", 1, 0, &r), SMTP_PATH_SYNTAX);
    assert_int_equal(smtp_rcpt_parse("TO:x@y", 1, 0, &r), SMTP_PATH_BAD_ADDR);
    assert_int_equal(smtp_rcpt_parse("TO:<@a,@b:x@y>", 1, 0, &r), SMTP_PATH_ROUTE);
    assert_int_equal(smtp_rcpt_parse("TO:<x%z@y>", 1, 0, &r), SMTP_PATH_ROUTE);
    assert_int_equal(smtp_rcpt_parse("TO:<x!z@y>", 1, 0, &r), SMTP_PATH_ROUTE);
    assert_int_equal(smtp_rcpt_parse("TO:<x@y> NOTIFY=NEVER", 0, 0, &r),
                     SMTP_PATH_UNKNOWN_PARAM);
    assert_int_equal(smtp_rcpt_parse("TO:<x@y> FOO=1", 1, 0, &r), SMTP_PATH_UNKNOWN_PARAM);
    assert_int_equal(smtp_rcpt_parse("TO:<x@y>  ", 1, 0, &r), SMTP_PATH_OK);
    /* RFC 5321 4.5.1: <Postmaster> without a domain, any case, as a
     * recipient only. */
    assert_int_equal(smtp_rcpt_parse("TO:<PostMaster>", 1, 0, &r), SMTP_PATH_OK);
    assert_string_equal(r.addr, "Postmaster");
    assert_int_equal(smtp_rcpt_parse("TO:<abuse>", 1, 0, &r), SMTP_PATH_BAD_ADDR);
    smtp_mail_args m;
    assert_int_equal(smtp_mail_parse("FROM:<Postmaster>", 1, &m), SMTP_PATH_BAD_ADDR);
}

static void test_dsn(void **state)
{
    (void)state;
    smtp_rcpt_args r;
    char txt[64];
    assert_int_equal(smtp_rcpt_parse("TO:<x@y> NOTIFY=NEVER", 1, 0, &r), SMTP_PATH_OK);
    assert_int_equal(r.notify, SMTP_NOTIFY_NEVER);
    assert_int_equal(smtp_rcpt_parse("TO:<x@y> notify=delay,SUCCESS ORCPT=rfc822;a+2Bb@c", 1, 0, &r),
                     SMTP_PATH_OK);
    assert_int_equal(r.notify, SMTP_NOTIFY_DELAY | SMTP_NOTIFY_SUCCESS);
    assert_string_equal(r.orcpt, "rfc822;a+b@c");
    smtp_notify_format(r.notify, txt, sizeof txt);
    assert_string_equal(txt, "SUCCESS,DELAY");
    static const char *const bad[] = {
        "TO:<x@y> NOTIFY=NEVER,SUCCESS", "TO:<x@y> NOTIFY=SOMETIMES", "TO:<x@y> NOTIFY=",
        "TO:<x@y> NOTIFY=SUCCESS,SUCCESS", "TO:<x@y> NOTIFY=SUCCESS,",
        "TO:<x@y> NOTIFY=DELAY NOTIFY=DELAY", "TO:<x@y> ORCPT=a@b", "TO:<x@y> ORCPT=;a@b",
        "TO:<x@y> ORCPT=rfc822;", "TO:<x@y> ORCPT=rfc822;a+2b@c", "TO:<x@y> ORCPT=rfc822;a+0D@c",
        "TO:<x@y> ORCPT=rfc822;a+4", "TO:<x@y> ORCPT=rf/c;a@b",
        "TO:<x@y> ORCPT=rfc822;a@b ORCPT=rfc822;a@b",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        { if (smtp_rcpt_parse(bad[i], 1, 0, &r) != SMTP_PATH_BAD_PARAM) fail_msg("%s", bad[i]); }

    smtp_mail_args a;
    assert_int_equal(smtp_mail_parse("FROM:<a@b> RET=HDRS ENVID=QQ+2B314", 1, &a), SMTP_PATH_OK);
    assert_int_equal(a.ret, SMTP_RET_HDRS);
    assert_string_equal(a.envid, "QQ+314");
    assert_int_equal(smtp_mail_parse("FROM:<a@b> ret=full", 1, &a), SMTP_PATH_OK);
    assert_int_equal(a.ret, SMTP_RET_FULL);
    assert_int_equal(a.envid[0], '\0');
    assert_int_equal(smtp_mail_parse("FROM:<a@b> RET=BODY", 1, &a), SMTP_PATH_BAD_PARAM);
    assert_int_equal(smtp_mail_parse("FROM:<a@b> RET=FULL RET=HDRS", 1, &a), SMTP_PATH_BAD_PARAM);
    assert_int_equal(smtp_mail_parse("FROM:<a@b> ENVID=a+0Ab", 1, &a), SMTP_PATH_BAD_PARAM);
    assert_int_equal(smtp_mail_parse("FROM:<a@b> ENVID=a=b", 1, &a), SMTP_PATH_BAD_PARAM);
    char line[300];
    char id[120];
    memset(id, 'i', 101);
    id[101] = '\0';
    snprintf(line, sizeof line, "FROM:<a@b> ENVID=%s", id);
    assert_int_equal(smtp_mail_parse(line, 1, &a), SMTP_PATH_BAD_PARAM);
}

static void test_smtputf8(void **state)
{
    (void)state;
    smtp_mail_args a;
    smtp_rcpt_args r;
    assert_int_equal(smtp_mail_parse("FROM:<a@b> SMTPUTF8", 1, &a), SMTP_PATH_OK);
    assert_true(a.smtputf8);
    assert_int_equal(smtp_mail_parse("FROM:<j\xc3\xb6rg@b\xc3\xbc.example> SMTPUTF8", 1, &a),
                     SMTP_PATH_OK);
    assert_string_equal(a.addr, "j\xc3\xb6rg@b\xc3\xbc.example");
    assert_int_equal(smtp_mail_parse("FROM:<j\xc3\xb6rg@b.example>", 1, &a), SMTP_PATH_NEED_UTF8);
    assert_int_equal(smtp_mail_parse("FROM:<a@b> SMTPUTF8 SMTPUTF8", 1, &a), SMTP_PATH_BAD_PARAM);
    assert_int_equal(smtp_mail_parse("FROM:<a@b> SMTPUTF8=1", 1, &a), SMTP_PATH_BAD_PARAM);
    assert_int_equal(smtp_mail_parse("FROM:<a@b> SMTPUTF8", 0, &a), SMTP_PATH_UNKNOWN_PARAM);
    assert_int_equal(smtp_rcpt_parse("TO:<\xe2\x82\xac@b>", 1, 1, &r), SMTP_PATH_OK);
    assert_string_equal(r.addr, "\xe2\x82\xac@b");
    assert_int_equal(smtp_rcpt_parse("TO:<\xe2\x82\xac@b>", 1, 0, &r), SMTP_PATH_NEED_UTF8);
    assert_int_equal(smtp_rcpt_parse("TO:<\xe2\x82\xac%x@b>", 1, 1, &r), SMTP_PATH_ROUTE);
}

static void test_bdat(void **state)
{
    (void)state;
    unsigned long long n;
    int last;
    assert_int_equal(smtp_bdat_parse("0 LAST", &n, &last), 0);
    assert_true(n == 0 && last);
    assert_int_equal(smtp_bdat_parse("1234", &n, &last), 0);
    assert_true(n == 1234 && !last);
    assert_int_equal(smtp_bdat_parse("12 last", &n, &last), 0);
    assert_true(n == 12 && last);
    assert_int_equal(smtp_bdat_parse("", &n, &last), -1);
    assert_int_equal(smtp_bdat_parse("-1", &n, &last), -1);
    assert_int_equal(smtp_bdat_parse("12 FIRST", &n, &last), -1);
    assert_int_equal(smtp_bdat_parse("12x", &n, &last), -1);
    assert_int_equal(smtp_bdat_parse("9999999999999999999999", &n, &last), -1);
    smtp_cmd c;
    assert_int_equal(parse("BDAT 10 LAST", &c), SMTP_PARSE_OK);
    assert_int_equal(c.verb, SMTP_VERB_BDAT);
    assert_string_equal(smtp_verb_name(SMTP_VERB_BDAT), "bdat");
    assert_string_equal(smtp_verb_name(SMTP_VERB_UNKNOWN), "unknown");
}

static void test_helo_valid(void **state)
{
    (void)state;
    assert_true(smtp_helo_valid("mail.example.org"));
    assert_true(smtp_helo_valid("[192.0.2.1]"));
    assert_true(smtp_helo_valid("[IPv6:2001:db8::1]"));
    assert_false(smtp_helo_valid(""));
    assert_false(smtp_helo_valid("a b"));
    assert_false(smtp_helo_valid("a\r\nb"));
    assert_false(smtp_helo_valid("a<b>"));
    char big[300];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_false(smtp_helo_valid(big));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verbs),
        cmocka_unit_test(test_unknown_and_garbage),
        cmocka_unit_test(test_mail),
        cmocka_unit_test(test_mail_errors),
        cmocka_unit_test(test_rcpt),
        cmocka_unit_test(test_dsn),
        cmocka_unit_test(test_smtputf8),
        cmocka_unit_test(test_bdat),
        cmocka_unit_test(test_helo_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
