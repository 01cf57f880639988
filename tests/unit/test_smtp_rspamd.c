/*
 * test_smtp_rspamd.c - unit tests of services/mx/smtp_rspamd.c without a
 * scanner: parsing /checkv2 replies (good, partial, hostile), the verdict
 * fields (forged copies removed, bounded, printable), the request header
 * lines, and the configuration checks. The real rspamd is exercised by
 * tests/integration/test_mx_rspamd.py.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "../../services/mx/smtp_rspamd.c"

static void test_parse_reply(void **state)
{
    (void)state;
    json_t *j = json_loads("{\"score\": 6.4, \"required_score\": 15, \"action\": \"add header\","
                           " \"symbols\": {\"MISSING_MID\": {\"score\": 2.5},"
                           " \"R_SPF_NA\": {\"score\": 0, \"options\": [\"no SPF record\"]},"
                           " \"MIME_GOOD\": {\"score\": -0.1, \"options\": [\"text/plain\"]}}}",
                           0, NULL);
    assert_non_null(j);
    smtp_rspamd_result r;
    assert_int_equal(smtp_rspamd_parse(j, &r), 0);
    assert_string_equal(r.action, "add header");
    assert_true(r.score > 6.39 && r.score < 6.41);
    /* highest score first; options kept, spaces made safe */
    assert_string_equal(r.symbols, "default: True [6.40 / 15.00];\r\n"
                                   "\tMISSING_MID(2.50)[];\r\n"
                                   "\tR_SPF_NA(0.00)[no_SPF_record];\r\n"
                                   "\tMIME_GOOD(-0.10)[text/plain]");
    json_decref(j);

    j = json_loads("{\"score\": 0.5, \"action\": \"no action\"}", 0, NULL);
    assert_int_equal(smtp_rspamd_parse(j, &r), 0);
    assert_string_equal(r.symbols, "default: False [0.50 / 0.00]");
    json_decref(j);
}

static void test_parse_bad_replies(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{}", "{\"score\": 1}", "{\"action\": \"reject\"}",
        "{\"score\": \"1\", \"action\": \"reject\"}", "{\"score\": 1, \"action\": 3}", "[]",
    };
    smtp_rspamd_result r;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = json_loads(bad[i], 0, NULL);
        assert_non_null(j);
        assert_int_equal(smtp_rspamd_parse(j, &r), -1);
        json_decref(j);
    }
}

static void test_hostile_symbols_are_bounded(void **state)
{
    (void)state;
    json_t *syms = json_object();
    for (int i = 0; i < 500; i++) {
        char name[64];
        snprintf(name, sizeof name, "SYM_%03d\r\nX-Evil: 1;[]", i);
        json_t *opts = json_pack("[s, s, s, s, s, s]", "a\r\nb", "c;d", "e", "f", "g", "h");
        json_object_set_new(syms, name, json_pack("{s:f, s:o}", "score", (double)i, "options",
                                                  opts));
    }
    json_t *j = json_pack("{s:f, s:f, s:s, s:o}", "score", 99.0, "required_score", 15.0,
                          "action", "custom\r\naction", "symbols", syms);
    smtp_rspamd_result r;
    assert_int_equal(smtp_rspamd_parse(j, &r), 0);
    assert_string_equal(r.action, "custom__action");
    assert_true(strlen(r.symbols) < SMTP_RSPAMD_RESULT_MAX);
    /* the only CR/LF are our own folds, each followed by a tab */
    for (const char *p = r.symbols; *p; p++) {
        if (*p == '\r')
            assert_true(p[1] == '\n' && p[2] == '\t');
        else if (*p == '\n')
            assert_true(p[-1] == '\r');
    }
    assert_null(strstr(r.symbols, "\nX-Evil"));
    /* the highest scores are kept */
    assert_non_null(strstr(r.symbols, "\tSYM_499__X-Evil:_1___(499.00)[a__b,c_d,e,f]"));
    json_decref(j);
}

static void test_headers_apply(void **state)
{
    (void)state;
    const char *in = "X-Spam-Status: No, forged\r\nSubject: hi\r\n"
                     "X-Spamd-Result: forged\r\n\r\nbody\r\n";
    buf msg;
    buf_init(&msg, 1 << 20);
    assert_int_equal(buf_append_str(&msg, in), 0);
    smtp_rspamd_result r;
    memset(&r, 0, sizeof r);
    r.score = 3.25;
    r.required = 15;
    (void)str_copy(r.action, sizeof r.action, "add header");
    (void)str_copy(r.symbols, sizeof r.symbols, "default: True [3.25 / 15.00];\r\n\tA(1.00)[]");
    assert_int_equal(smtp_rspamd_headers_apply(&r, &msg), 0);
    assert_string_equal(msg.data,
                        "X-Spam-Score: 3.25\r\n"
                        "X-Spam-Status: Yes, score=3.25 required=15.00\r\n"
                        "X-Rspamd-Action: add header\r\n"
                        "X-Spamd-Result: default: True [3.25 / 15.00];\r\n\tA(1.00)[]\r\n"
                        "Subject: hi\r\n\r\nbody\r\n");
    buf_release(&msg);
}

static void test_request_lines(void **state)
{
    (void)state;
    char *rcpts[] = { "a@example.test", "b@example.test" };
    smtp_rspamd_req req = { .ip = "192.0.2.7", .helo = "client.test", .mail_from = "",
                            .rcpts = rcpts, .nrcpts = 2, .queue_id = "ABC123",
                            .user = NULL };
    char *lines[8];
    size_t n = smtp_rspamd_request_lines(&req, lines, 8);
    assert_int_equal(n, 6);
    assert_string_equal(lines[0], "IP: 192.0.2.7");
    assert_string_equal(lines[1], "Helo: client.test");
    assert_string_equal(lines[2], "From: <>");
    assert_string_equal(lines[3], "Rcpt: <a@example.test>");
    assert_string_equal(lines[4], "Rcpt: <b@example.test>");
    assert_string_equal(lines[5], "Queue-Id: ABC123");
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    /* a value with CR/LF is dropped, not sent */
    req.helo = "bad\r\nX: y";
    req.user = "alice";
    n = smtp_rspamd_request_lines(&req, lines, 8);
    assert_int_equal(n, 6);
    assert_string_equal(lines[1], "From: <>");
    assert_string_equal(lines[5], "User: alice");
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
}

static void test_config(void **state)
{
    (void)state;
    char err[256];
    smtp_rspamd *r = (smtp_rspamd *)1;
    config *cfg;

    unsetenv("MAILYARD_CONFIG_FILE");
    unsetenv("MAILYARD_MX_RSPAMD_URL");
    cfg = config_load(err, sizeof err);
    assert_non_null(cfg);
    assert_int_equal(smtp_rspamd_create(cfg, NULL, &r, err, sizeof err), 0);
    assert_null(r);                                   /* off */
    config_free(cfg);

    setenv("MAILYARD_MX_RSPAMD_URL", "ftp://127.0.0.1:1", 1);
    cfg = config_load(err, sizeof err);
    assert_int_equal(smtp_rspamd_create(cfg, NULL, &r, err, sizeof err), -1);
    config_free(cfg);

    setenv("MAILYARD_MX_RSPAMD_URL", "http://127.0.0.1:1", 1);
    setenv("MAILYARD_MX_RSPAMD_REJECT_SCORE", "12x", 1);
    cfg = config_load(err, sizeof err);
    assert_int_equal(smtp_rspamd_create(cfg, NULL, &r, err, sizeof err), -1);
    config_free(cfg);

    setenv("MAILYARD_MX_RSPAMD_REJECT_SCORE", "12.5", 1);
    setenv("MAILYARD_MX_RSPAMD_TIMEOUT_MS", "300", 1);
    setenv("MAILYARD_MX_RSPAMD_FAIL_OPEN", "off", 1);
    cfg = config_load(err, sizeof err);
    assert_int_equal(smtp_rspamd_create(cfg, NULL, &r, err, sizeof err), 0);
    assert_non_null(r);
    assert_true(r->have_reject_score && r->reject_score == 12.5);
    assert_int_equal(r->fail_open, 0);
    /* nothing listens on port 1: fail closed gives 451 4.7.1 */
    char *rcpts[] = { "a@example.test" };
    smtp_rspamd_req req = { .ip = "192.0.2.7", .helo = "h", .mail_from = "s@x.test",
                            .rcpts = rcpts, .nrcpts = 1, .queue_id = "Q1" };
    buf msg;
    buf_init(&msg, 1 << 16);
    assert_int_equal(buf_append_str(&msg, "Subject: x\r\n\r\nx\r\n"), 0);
    char text[256];
    assert_int_equal(smtp_rspamd_message(r, &req, &msg, text, sizeof text),
                     SMTP_RSPAMD_TEMPFAIL);
    assert_memory_equal(text, "4.7.1 ", 6);
    assert_string_equal(msg.data, "Subject: x\r\n\r\nx\r\n");
    r->fail_open = 1;
    assert_int_equal(smtp_rspamd_message(r, &req, &msg, text, sizeof text),
                     SMTP_RSPAMD_ACCEPT);
    assert_string_equal(msg.data, "Subject: x\r\n\r\nx\r\n");   /* unscanned: as is */
    buf_release(&msg);
    smtp_rspamd_free(r);
    config_free(cfg);
    unsetenv("MAILYARD_MX_RSPAMD_URL");
    unsetenv("MAILYARD_MX_RSPAMD_REJECT_SCORE");
    unsetenv("MAILYARD_MX_RSPAMD_TIMEOUT_MS");
    unsetenv("MAILYARD_MX_RSPAMD_FAIL_OPEN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_reply),
        cmocka_unit_test(test_parse_bad_replies),
        cmocka_unit_test(test_hostile_symbols_are_bounded),
        cmocka_unit_test(test_headers_apply),
        cmocka_unit_test(test_request_lines),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
