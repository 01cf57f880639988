/*
 * test_relay_dsnp.c - unit tests for the relay's RFC 3461 parameters
 * (services/relay/relay_dsnp.c): NOTIFY parsing and formatting, the
 * defaults, xtext encoding, and the lookup in the job payload and in the
 * spool message; and dsn.c's rendering of ENVID, ORCPT and RET.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "buf.h"
#include "dsn.h"
#include "../../services/relay/relay_dsnp.c"

static void test_notify_parse(void **state)
{
    (void)state;
    assert_int_equal(relay_dsnp_parse_notify("NEVER"), RELAY_NOTIFY_NEVER);
    assert_int_equal(relay_dsnp_parse_notify("success,Delay"),
                     RELAY_NOTIFY_SUCCESS | RELAY_NOTIFY_DELAY);
    assert_int_equal(relay_dsnp_parse_notify("NEVER,SUCCESS"), 0);   /* NEVER alone */
    assert_int_equal(relay_dsnp_parse_notify("SOMETIMES"), 0);
    assert_int_equal(relay_dsnp_parse_notify(""), 0);
    assert_int_equal(relay_dsnp_parse_notify(NULL), 0);
    char out[40];
    relay_dsnp_notify_format(RELAY_NOTIFY_FAILURE | RELAY_NOTIFY_SUCCESS, out, sizeof(out));
    assert_string_equal(out, "SUCCESS,FAILURE");
    relay_dsnp_notify_format(0, out, sizeof(out));
    assert_string_equal(out, "");
}

static void test_wants_defaults(void **state)
{
    (void)state;
    relay_dsnp p = { 0 };
    assert_true(relay_dsnp_wants(&p, RELAY_NOTIFY_FAILURE));
    assert_true(relay_dsnp_wants(&p, RELAY_NOTIFY_DELAY));
    assert_false(relay_dsnp_wants(&p, RELAY_NOTIFY_SUCCESS));
    p.notify = RELAY_NOTIFY_NEVER;
    assert_false(relay_dsnp_wants(&p, RELAY_NOTIFY_FAILURE));
    assert_false(relay_dsnp_wants(&p, RELAY_NOTIFY_DELAY));
    p.notify = RELAY_NOTIFY_SUCCESS | RELAY_NOTIFY_FAILURE;
    assert_true(relay_dsnp_wants(&p, RELAY_NOTIFY_SUCCESS));
    assert_false(relay_dsnp_wants(&p, RELAY_NOTIFY_DELAY));
}

static void test_xtext(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(relay_dsnp_xtext("a+b=c d\x01\xc3", out, sizeof(out)), 0);
    assert_string_equal(out, "a+2Bb+3Dc+20d+01+C3");
    assert_int_equal(relay_dsnp_xtext("abcdef", out, 4), -1);
    assert_int_equal(relay_dsnp_xtext("a+", out, 4), -1);
}

static void test_lookup(void **state)
{
    (void)state;
    relay_dsnp d;
    json_t *pl = json_loads("{\"mail_from\":\"s@x\",\"rcpts\":[\"a@r\",\"b@r\",\"c@r\"],"
                            "\"dsn\":[{\"notify\":\"NEVER\"},null,"
                            "{\"notify\":\"BOGUS\",\"orcpt\":\"rfc822;al@x\"}]}", 0, NULL);
    assert_non_null(pl);
    relay_dsnp_lookup(pl, NULL, "a@r", &d);
    assert_int_equal(d.notify, RELAY_NOTIFY_NEVER);
    assert_string_equal(d.orcpt, "");
    relay_dsnp_lookup(pl, NULL, "b@r", &d);
    assert_int_equal(d.notify, 0);
    relay_dsnp_lookup(pl, NULL, "c@r", &d);
    assert_int_equal(d.notify, 0);                   /* malformed: ignored */
    assert_string_equal(d.orcpt, "rfc822;al@x");
    json_decref(pl);

    /* no "dsn" in the payload: the message's own rcpt_dsn */
    char *rcpts[] = { "One@R", "two@r" };
    spool_message m;
    memset(&m, 0, sizeof(m));
    m.rcpts = rcpts;
    m.nrcpts = 2;
    m.rcpt_dsn = json_loads("[null, {\"notify\":\"SUCCESS\",\"orcpt\":\"rfc822;two@r\"}]",
                            0, NULL);
    pl = json_loads("{\"mail_from\":\"s@x\",\"rcpts\":[\"one@r\",\"two@r\"]}", 0, NULL);
    relay_dsnp_lookup(pl, &m, "TWO@r", &d);
    assert_int_equal(d.notify, RELAY_NOTIFY_SUCCESS);
    assert_string_equal(d.orcpt, "rfc822;two@r");
    relay_dsnp_lookup(pl, &m, "one@r", &d);
    assert_int_equal(d.notify, 0);
    json_decref(pl);
    json_decref(m.rcpt_dsn);
}

static const char ORIG[] =
    "Received: from c (c [192.0.2.1]) by mx; Sun, 22 Nov 2026 07:00:00 +0000\r\n"
    "Subject: hi\r\n"
    "\r\n"
    "BODY-LINE\r\n";

static void test_dsn_fields_and_ret(void **state)
{
    (void)state;
    char raw[sizeof(ORIG)];
    memcpy(raw, ORIG, sizeof(ORIG));
    spool_message m;
    memset(&m, 0, sizeof(m));
    m.id = 1;
    m.mail_from = "s@x";
    m.raw = raw;
    m.raw_len = sizeof(ORIG) - 1;
    m.dsn_envid = "env-1";
    m.dsn_ret = "HDRS";
    dsn_rcpt r = { "t@r", "5.1.1", "smtp; 550 no", NULL, "rfc822;alias@x", 0 };
    buf *out = buf_create(1 << 20);
    assert_int_equal(dsn_build("mta", &m, "s@x", &r, 1, DSN_FAILED, 1795330800, out), 0);
    assert_non_null(strstr(out->data, "Original-Envelope-Id: env-1\r\n"));
    assert_non_null(strstr(out->data, "Original-Recipient: rfc822;alias@x\r\n"
                                      "Final-Recipient: rfc822; t@r\r\n"));
    assert_non_null(strstr(out->data, "text/rfc822-headers"));
    assert_null(strstr(out->data, "BODY-LINE"));
    buf_free(out);

    m.dsn_ret = "FULL";
    out = buf_create(1 << 20);
    assert_int_equal(dsn_build("mta", &m, "s@x", &r, 1, DSN_FAILED, 1795330800, out), 0);
    assert_non_null(strstr(out->data, "BODY-LINE"));
    buf_free(out);

    /* success reports: headers only, Action relayed, 2.0.0 */
    r.status = NULL;
    out = buf_create(1 << 20);
    assert_int_equal(dsn_build("mta", &m, "s@x", &r, 1, DSN_RELAYED, 1795330800, out), 0);
    assert_non_null(strstr(out->data, "Action: relayed\r\nStatus: 2.0.0\r\n"));
    assert_non_null(strstr(out->data, "Subject: Successful Mail Delivery Report\r\n"));
    assert_null(strstr(out->data, "BODY-LINE"));
    buf_free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notify_parse),
        cmocka_unit_test(test_wants_defaults),
        cmocka_unit_test(test_xtext),
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_dsn_fields_and_ret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
