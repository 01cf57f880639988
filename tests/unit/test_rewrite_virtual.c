/*
 * test_rewrite_virtual.c - unit tests for the Postfix virtual(5) table
 * parser of "mailyardctl alias import" (services/mailyardctl/ctl_virtual.c)
 * and for the bounce Message-ID finder of rewrite's bounce matching
 * (services/rewrite/rewrite_bounce.c). Both are pure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../services/mailyardctl/ctl_virtual.c"
#include "../../services/rewrite/rewrite_bounce.c"

static json_t *parse(const char *text, json_t **errors)
{
    return ctl_virtual_parse(text, strlen(text), errors);
}

static void assert_entry(json_t *e, long line, const char *addr, const char *targets)
{
    assert_int_equal(json_integer_value(json_object_get(e, "line")), line);
    assert_string_equal(json_string_value(json_object_get(e, "address")), addr);
    char *t = json_dumps(json_object_get(e, "targets"), JSON_COMPACT);
    assert_string_equal(t, targets);
    free(t);
}

static void test_virtual_basic(void **state)
{
    (void)state;
    json_t *errors;
    json_t *v = parse("# a comment\n"
                      "example.test   anything\n"
                      "\n"
                      "team@example.test  a@remote.test, b@remote.test\n"
                      "list@example.test a@remote.test,b@remote.test c@remote.test\n"
                      "   # comment inside\n"
                      "multi@example.test a@remote.test,\n"
                      "    b@remote.test\n"
                      "\tc@remote.test\n"
                      "@example.test  catch@remote.test\r\n"
                      "last@example.test x@remote.test", &errors);
    assert_int_equal(json_array_size(errors), 0);
    assert_int_equal(json_array_size(v), 6);
    json_t *d = json_array_get(v, 0);
    assert_string_equal(json_string_value(json_object_get(d, "domain")), "example.test");
    assert_int_equal(json_integer_value(json_object_get(d, "line")), 2);
    assert_entry(json_array_get(v, 1), 4, "team@example.test",
                 "[\"a@remote.test\",\"b@remote.test\"]");
    assert_entry(json_array_get(v, 2), 5, "list@example.test",
                 "[\"a@remote.test\",\"b@remote.test\",\"c@remote.test\"]");
    assert_entry(json_array_get(v, 3), 7, "multi@example.test",
                 "[\"a@remote.test\",\"b@remote.test\",\"c@remote.test\"]");
    assert_entry(json_array_get(v, 4), 10, "@example.test", "[\"catch@remote.test\"]");
    assert_entry(json_array_get(v, 5), 11, "last@example.test", "[\"x@remote.test\"]");
    json_decref(v);
    json_decref(errors);
}

static void test_virtual_errors(void **state)
{
    (void)state;
    json_t *errors;
    json_t *v = parse("  orphan@x.test continuation first\n"
                      "novalue@example.test\n"
                      "localonly  someone@remote.test\n"
                      "ok@example.test  t@remote.test\n"
                      "bad\xff@example.test t@remote.test\n"
                      "OK@Example.test  dup@remote.test\n", &errors);
    assert_int_equal(json_array_size(v), 1);
    assert_entry(json_array_get(v, 0), 4, "ok@example.test", "[\"t@remote.test\"]");
    assert_int_equal(json_array_size(errors), 5);
    long lines[] = { 1, 2, 3, 5, 6 };
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(json_integer_value(json_object_get(json_array_get(errors, i),
                                                            "line")), lines[i]);
    json_decref(v);
    json_decref(errors);
}

static void test_virtual_limits(void **state)
{
    (void)state;
    json_t *errors;
    /* an over-long logical line is one error, the next line still parses */
    size_t big = CTL_VIRTUAL_MAX_LINE + 100;
    char *text = malloc(big + 64);
    memcpy(text, "long@example.test ", 18);
    memset(text + 18, 'a', big - 18);
    memcpy(text + big, "\nok@example.test t@remote.test\n", 32);
    json_t *v = ctl_virtual_parse(text, strlen(text), &errors);
    assert_int_equal(json_array_size(v), 1);
    assert_int_equal(json_array_size(errors), 1);
    json_decref(v);
    json_decref(errors);
    free(text);
    /* empty input */
    v = parse("", &errors);
    assert_int_equal(json_array_size(v), 0);
    assert_int_equal(json_array_size(errors), 0);
    json_decref(v);
    json_decref(errors);
}

static void test_bounce_message_id(void **state)
{
    (void)state;
    const char *dsn =
        "From: MAILER-DAEMON@remote.test\r\n"
        "Message-ID: <bounce-own@remote.test>\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n"
        "\r\n"
        "--B\r\n"
        "Content-Type: text/plain\r\n"
        "\r\n"
        "Delivery failed.\r\n"
        "--B\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; remote.test\r\n"
        "\r\n"
        "--B\r\n"
        "Content-Type: text/rfc822-headers\r\n"
        "\r\n"
        "From: a@src.test\r\n"
        "Message-ID:\r\n <orig-1@src.test>\r\n"
        "Subject: hi\r\n"
        "\r\n"
        "--B--\r\n";
    char *id = rewrite_bounce_message_id(dsn, strlen(dsn));
    assert_non_null(id);
    assert_string_equal(id, "<orig-1@src.test>");
    free(id);

    const char *rfc822 =
        "Subject: Undelivered\nContent-Type: multipart/mixed; boundary=x\n\n"
        "--x\nContent-Type: MESSAGE/RFC822\nContent-Description: original\n\n"
        "Message-Id: <orig-2@src.test>\nFrom: a@src.test\n\nbody\n--x--\n";
    id = rewrite_bounce_message_id(rfc822, strlen(rfc822));
    assert_string_equal(id, "<orig-2@src.test>");
    free(id);

    const char *inline_quote =
        "Message-ID: <own@remote.test>\r\nSubject: failure\r\n\r\n"
        "Your message could not be delivered.\r\n"
        "message-id:  <orig-3@src.test>  \r\n";
    id = rewrite_bounce_message_id(inline_quote, strlen(inline_quote));
    assert_string_equal(id, "<orig-3@src.test>");
    free(id);

    const char *none = "Message-ID: <own@remote.test>\r\n\r\nno original here\r\n";
    assert_null(rewrite_bounce_message_id(none, strlen(none)));
    assert_null(rewrite_bounce_message_id("", 0));
    const char *trunc = "Subject: x\r\n\r\nContent-Type: message/rfc822\r\n";
    assert_null(rewrite_bounce_message_id(trunc, strlen(trunc)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_virtual_basic),
        cmocka_unit_test(test_virtual_errors),
        cmocka_unit_test(test_virtual_limits),
        cmocka_unit_test(test_bounce_message_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
