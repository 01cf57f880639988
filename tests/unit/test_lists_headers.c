/*
 * test_lists_headers.c - unit tests for the pure header work of the lists
 * service (services/lists/lists_headers.c): List-Id, the RFC 2369 fields,
 * Precedence, the subject prefix, loop detection, and that everything the
 * list does not change stays byte for byte as posted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../services/lists/lists_headers.c"
#include "../../services/lists/lists_addr.c"

static const lists_header_info dev = {
    .address = "dev@example.test", .name = "Developers",
    .subject_prefix = "[dev] ", .archive_url = "http://arch.example.test",
};

static hdr_msg *parse(const char *s)
{
    enum hdr_error err = HDR_OK;
    hdr_msg *m = hdr_parse(s, strlen(s), 100, 4096, &err);
    assert_non_null(m);
    assert_int_equal(err, HDR_OK);
    return m;
}

/* Serialises m (fails the test on error); caller frees. */
static char *ser(const hdr_msg *m)
{
    buf *b = buf_create(1 << 20);
    assert_int_equal(hdr_serialize(m, b), 0);
    char *s = buf_steal(b, NULL);
    buf_free(b);
    return s;
}

static void test_list_id(void **state)
{
    (void)state;
    static const struct { const char *addr, *name, *want; } cases[] = {
        { "dev@example.test", "Developers", "Developers <dev.example.test>" },
        { "dev@example.test", "", "<dev.example.test>" },
        { "dev@example.test", NULL, "<dev.example.test>" },
        { "a.b+c@x.test", "Team A", "Team A <a.b+c.x.test>" },
        { "dev@example.test", "Dev, \"core\"", "\"Dev, \\\"core\\\"\" <dev.example.test>" },
        { "dev@example.test", "Entwickler \xc3\xbc", "=?UTF-8?B?RW50d2lja2xlciDDvA==?= <dev.example.test>" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf b;
        buf_init(&b, 1024);
        assert_int_equal(lists_headers_list_id(cases[i].addr, cases[i].name, &b), 0);
        assert_string_equal(b.data, cases[i].want);
        buf_release(&b);
    }
    buf b;
    buf_init(&b, 1024);
    assert_int_equal(lists_headers_list_id("no-at-sign", "x", &b), -1);
    buf_release(&b);
}

static void test_apply_byte_exact(void **state)
{
    (void)state;
    hdr_msg *m = parse("Received: from a\r\n\tby b; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
                       "From: Alice <alice@example.org>\r\n"
                       "Subject: hello\r\n"
                       "List-Id: Other <other.example.org>\r\n"
                       "Precedence: bulk\r\n"
                       "DKIM-Signature: v=1; a=rsa-sha256;\r\n b=abc\r\n"
                       "\r\n"
                       "body line\r\n\r\n-- \r\nsig\r\n");
    assert_int_equal(lists_headers_apply(m, &dev), 0);
    char *out = ser(m);
    assert_string_equal(out,
        "Received: from a\r\n\tby b; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
        "From: Alice <alice@example.org>\r\n"
        "Subject: [dev] hello\r\n"
        "DKIM-Signature: v=1; a=rsa-sha256;\r\n b=abc\r\n"
        "List-Id: Developers <dev.example.test>\r\n"
        "List-Post: <mailto:dev@example.test>\r\n"
        "List-Help: <mailto:dev-request@example.test?subject=help>\r\n"
        "List-Unsubscribe: <mailto:dev-request@example.test?subject=unsubscribe>\r\n"
        "List-Archive: <http://arch.example.test/v1/lists/dev@example.test/messages>\r\n"
        "Precedence: list\r\n"
        "\r\n"
        "body line\r\n\r\n-- \r\nsig\r\n");
    free(out);
    hdr_msg_free(m);
}

static void test_subject_cases(void **state)
{
    (void)state;
    static const struct { const char *in, *want; } cases[] = {
        { "Subject: Re: [dev] x\r\n\r\nb", "Subject: Re: [dev] x\r\n\r\nb" },
        { "Subject: [DEV] shouting\r\n\r\nb", "Subject: [DEV] shouting\r\n\r\nb" },
        { "Subject: long\r\n folded line\r\n\r\nb", "Subject: [dev] long\r\n folded line\r\n\r\nb" },
        { "Subject: =?UTF-8?B?w7w=?=\r\n\r\nb", "Subject: [dev] =?UTF-8?B?w7w=?=\r\n\r\nb" },
        { "Subject:\r\n\r\nb", "Subject: [dev]\r\n\r\nb" },
        { "From: a@b\r\n\r\nb", "From: a@b\r\nSubject: [dev] (no subject)\r\n\r\nb" },
        { "Subject: unix\n\nb", "Subject: [dev] unix\n\nb" },
        { "SUBJECT: upper\r\n\r\nb", "SUBJECT: [dev] upper\r\n\r\nb" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hdr_msg *m = parse(cases[i].in);
        assert_int_equal(lists_headers_subject(m, "[dev] "), 0);
        char *out = ser(m);
        assert_string_equal(out, cases[i].want);
        free(out);
        hdr_msg_free(m);
    }
    /* an empty prefix changes nothing */
    hdr_msg *m = parse("Subject: x\r\n\r\n");
    assert_int_equal(lists_headers_subject(m, "  "), 0);
    char *out = ser(m);
    assert_string_equal(out, "Subject: x\r\n\r\n");
    free(out);
    hdr_msg_free(m);
}

static void test_lf_message_and_strip(void **state)
{
    (void)state;
    hdr_msg *m = parse("Subject: s\nlist-help: <mailto:x>\nLIST-UNSUBSCRIBE: <mailto:y>\n"
                       "X-List: kept\n\nbody\n");
    assert_int_equal(lists_headers_strip(m), 2);
    assert_int_equal(m->nfields, 2);
    assert_int_equal(lists_headers_apply(m, &dev), 0);
    char *out = ser(m);
    assert_non_null(strstr(out, "X-List: kept\nList-Id: Developers <dev.example.test>\n"));
    assert_null(strstr(out, "\r"));
    assert_int_equal(hdr_count(m, "List-Help"), 1);
    assert_int_equal(hdr_count(m, "Precedence"), 1);
    free(out);
    hdr_msg_free(m);
}

static void test_url_encoding(void **state)
{
    (void)state;
    lists_header_info odd = dev;
    odd.address = "a&b?c@example.test";
    hdr_msg *m = parse("Subject: s\r\n\r\n");
    assert_int_equal(lists_headers_apply(m, &odd), 0);
    char *post = hdr_get_value(m, "List-Post");
    assert_string_equal(post, "<mailto:a%26b%3Fc@example.test>");
    free(post);
    hdr_msg_free(m);
}

static void test_loop(void **state)
{
    (void)state;
    hdr_msg *m = parse("List-Id: Developers <dev.example.test>\r\n\r\n");
    assert_int_equal(lists_headers_is_loop(m, "dev@example.test"), 1);
    assert_int_equal(lists_headers_is_loop(m, "ops@example.test"), 0);
    hdr_msg_free(m);
    m = parse("Subject: x\r\n\r\n");
    assert_int_equal(lists_headers_is_loop(m, "dev@example.test"), 0);
    hdr_msg_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_id),
        cmocka_unit_test(test_apply_byte_exact),
        cmocka_unit_test(test_subject_cases),
        cmocka_unit_test(test_lf_message_and_strip),
        cmocka_unit_test(test_url_encoding),
        cmocka_unit_test(test_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
