/*
 * test_archive_fields.c - unit tests for the pure parts of the archive
 * (services/archive/archive_fields.c): indexed fields, header JSON, text
 * clean-up, base64 and the paging parameters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "utf8.h"
#include "../../services/archive/archive_fields.c"

static void test_extract(void **state)
{
    (void)state;
    static const char msg[] =
        "Message-ID: <1@example.org>\r\n"
        "Subject: [dev] hello\r\n  world\r\n"
        "From: Alice <alice@example.org>\r\n"
        "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
        "In-Reply-To: <0@example.org>\r\n"
        "X-Bad: caf\xff\r\n"
        "\r\nbody\r\n";
    enum hdr_error err;
    hdr_msg *m = hdr_parse(msg, sizeof msg - 1, 100, 4096, &err);
    assert_non_null(m);
    archive_fields f;
    archive_fields_extract(m, &f);
    assert_string_equal(f.message_id, "<1@example.org>");
    assert_string_equal(f.subject, "[dev] hello  world");
    assert_string_equal(f.from, "Alice <alice@example.org>");
    assert_string_equal(f.date, "Mon, 1 Jan 2024 00:00:00 +0000");
    assert_string_equal(f.in_reply_to, "<0@example.org>");
    archive_fields_release(&f);
    assert_null(f.subject);

    json_t *h = archive_headers_json(m);
    assert_int_equal(json_array_size(h), 6);
    json_t *last = json_array_get(h, 5);
    assert_string_equal(json_string_value(json_object_get(last, "name")), "X-Bad");
    assert_string_equal(json_string_value(json_object_get(last, "value")), "caf\xef\xbf\xbd");
    assert_string_equal(json_string_value(json_object_get(json_array_get(h, 1), "value")),
                        "[dev] hello  world");
    json_decref(h);
    hdr_msg_free(m);

    /* no parse: every field NULL, no headers */
    archive_fields_extract(NULL, &f);
    assert_null(f.message_id);
    assert_null(f.from);
    archive_fields_release(&f);
    h = archive_headers_json(NULL);
    assert_int_equal(json_array_size(h), 0);
    json_decref(h);

    /* missing fields stay NULL */
    m = hdr_parse("Subject: only\n\n", 15, 100, 4096, &err);
    assert_non_null(m);
    archive_fields_extract(m, &f);
    assert_string_equal(f.subject, "only");
    assert_null(f.message_id);
    assert_null(f.in_reply_to);
    archive_fields_release(&f);
    hdr_msg_free(m);
}

static void test_base64(void **state)
{
    (void)state;
    static const struct { const char *in, *want; } cases[] = {
        { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
        { "foobar", "Zm9vYmFy" }, { "\xff\xfe\x00", "//4A" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = strlen(cases[i].in);
        if (i == 5)
            len = 3;
        char *got = archive_base64((const unsigned char *)cases[i].in, len);
        assert_string_equal(got, cases[i].want);
        free(got);
    }
}

static void test_text_clean(void **state)
{
    (void)state;
    char *s = utf8_clean("a\0b\xc3", 4, 100);
    assert_string_equal(s, "ab\xef\xbf\xbd");
    free(s);
    s = utf8_clean("\xe2\x82\xac\xe2\x82\xac", 6, 5);
    assert_string_equal(s, "\xe2\x82\xac");
    free(s);
}

static void test_page_parse(void **state)
{
    (void)state;
    static const struct { const char *page, *per; int rc; long p, pp; } cases[] = {
        { NULL, NULL, 0, 1, 50 },
        { "2", "10", 0, 2, 10 },
        { "1", "200", 0, 1, 200 },
        { "1", "201", -1, 0, 0 },
        { "0", NULL, -1, 0, 0 },
        { NULL, "0", -1, 0, 0 },
        { "-1", NULL, -1, 0, 0 },
        { "1x", NULL, -1, 0, 0 },
        { "", NULL, -1, 0, 0 },
        { "9999999999", NULL, -1, 0, 0 },
        { "999999999", "1", 0, 999999999, 1 },
        { " 1", NULL, -1, 0, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long p = 0, pp = 0;
        assert_int_equal(archive_page_parse(cases[i].page, cases[i].per, &p, &pp), cases[i].rc);
        if (cases[i].rc == 0) {
            assert_int_equal(p, cases[i].p);
            assert_int_equal(pp, cases[i].pp);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_extract),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_text_clean),
        cmocka_unit_test(test_page_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
