/*
 * test_hdr.c - unit tests for libcommon/hdr.c: byte-exact round trips,
 * limits, syntax errors, and get/insert/replace/remove/serialize.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "hdr.h"

/* Serialises m into a fresh string (caller frees); fails the test on error. */
static char *ser(const hdr_msg *m, size_t *len)
{
    buf *b = buf_create(1 << 20);
    assert_int_equal(hdr_serialize(m, b), 0);
    char *s = buf_steal(b, len);
    buf_free(b);
    return s;
}

struct rt_case {
    const char *name;
    const char *msg;
    size_t      len;        /* 0: strlen(msg) */
    size_t      nfields;
    size_t      body_len;
    const char *eol;
    const char *sep;
};

static void test_round_trip(void **state)
{
    (void)state;
    static const char nul_msg[] = "X-Bin: a\0b\r\n\r\nbody\0with nul";
    static const struct rt_case cases[] = {
        { "crlf", "From: a@b\r\nTo: c@d\r\nSubject: hi\r\n\r\nbody\r\n", 0, 3, 6, "\r\n", "\r\n" },
        { "lf", "From: a@b\nTo: c@d\n\nbody\n", 0, 2, 5, "\n", "\n" },
        { "folded", "Subject: a\r\n  folded\r\n\tagain\r\nTo: x\r\n\r\nb", 0, 2, 1, "\r\n", "\r\n" },
        { "empty values", "X-Empty:\r\nX-Blank:   \r\nTo: x\r\n\r\n", 0, 3, 0, "\r\n", "\r\n" },
        { "no body", "From: a@b\r\nTo: c@d\r\n\r\n", 0, 2, 0, "\r\n", "\r\n" },
        { "no empty line", "From: a@b\r\nTo: c@d\r\n", 0, 2, 0, "\r\n", "" },
        { "no final eol", "From: a@b\r\nSubject: x", 0, 2, 0, "\r\n", "" },
        { "empty message", "", 0, 0, 0, "\r\n", "" },
        { "only empty line", "\r\nbody", 0, 0, 4, "\r\n", "\r\n" },
        { "mixed eols", "A: 1\r\nB: 2\n\nbody\r\n", 0, 2, 6, "\r\n", "\n" },
        { "obs name space", "Subject : x\r\n\r\n", 0, 1, 0, "\r\n", "\r\n" },
        { "body looks like headers", "A: 1\n\nB: 2\n\nC: 3\n", 0, 1, 11, "\n", "\n" },
        { "nul bytes", nul_msg, sizeof nul_msg - 1, 1, 13, "\r\n", "\r\n" },
        { "bare cr in value", "A: x\ry\r\n\r\n", 0, 1, 0, "\r\n", "\r\n" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct rt_case *c = &cases[i];
        size_t len = c->len ? c->len : strlen(c->msg);
        enum hdr_error err = HDR_ERR_SYNTAX;
        hdr_msg *m = hdr_parse(c->msg, len, 100, 1000, &err);
        if (m == NULL)
            fail_msg("%s: parse failed (%d)", c->name, err);
        assert_int_equal(err, HDR_OK);
        assert_int_equal(m->nfields, c->nfields);
        assert_int_equal(m->body_len, c->body_len);
        assert_string_equal(m->eol, c->eol);
        assert_string_equal(m->sep, c->sep);
        size_t olen;
        char *out = ser(m, &olen);
        if (olen != len || memcmp(out, c->msg, len) != 0)
            fail_msg("%s: round trip differs", c->name);
        free(out);
        hdr_msg_free(m);
    }
}

struct err_case {
    const char *name;
    const char *msg;
    size_t max_fields, max_len;
    enum hdr_error want;
};

static void test_errors(void **state)
{
    (void)state;
    static const struct err_case cases[] = {
        { "starts with continuation", " x\r\nA: b\r\n\r\n", 10, 100, HDR_ERR_SYNTAX },
        { "no colon", "A: b\r\nnot a header\r\n\r\n", 10, 100, HDR_ERR_SYNTAX },
        { "empty name", ": b\r\n\r\n", 10, 100, HDR_ERR_SYNTAX },
        { "mbox From line", "From a@b Mon Jan 1\nA: b\n\n", 10, 100, HDR_ERR_SYNTAX },
        { "too many fields", "A: 1\r\nB: 2\r\nC: 3\r\n\r\n", 2, 100, HDR_ERR_LIMIT },
        { "too many, no sep", "A: 1\r\nB: 2\r\nC: 3", 2, 100, HDR_ERR_LIMIT },
        { "field too long", "A: 1\r\nB: 0123456789\r\n\r\n", 10, 10, HDR_ERR_LIMIT },
        { "folded too long", "A: 1\r\n 2345\r\n 6789\r\n\r\n", 10, 12, HDR_ERR_LIMIT },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum hdr_error err = HDR_OK;
        hdr_msg *m = hdr_parse(cases[i].msg, strlen(cases[i].msg), cases[i].max_fields,
                               cases[i].max_len, &err);
        if (m != NULL || err != cases[i].want)
            fail_msg("%s: got %p err %d", cases[i].name, (void *)m, err);
    }
    /* exactly at the limits is fine */
    enum hdr_error err;
    hdr_msg *m = hdr_parse("A: 1\r\nB: 2\r\n\r\n", 14, 2, 6, &err);
    assert_non_null(m);
    hdr_msg_free(m);
}

static void test_get_values(void **state)
{
    (void)state;
    const char *msg = "Subject: hello\r\n world\r\nto: first\r\nX-E:\r\n"
                      "TO:  second \r\nReceived: a\r\nReceived: b\r\n\r\nbody";
    hdr_msg *m = hdr_parse(msg, strlen(msg), 50, 1000, NULL);
    assert_non_null(m);
    char *v = hdr_get_value(m, "subject");
    assert_string_equal(v, "hello world");
    free(v);
    v = hdr_get_value(m, "To");
    assert_string_equal(v, "first");
    free(v);
    v = hdr_field_value(m, (size_t)hdr_find(m, "to", 1));
    assert_string_equal(v, "second");
    free(v);
    v = hdr_get_value(m, "X-E");
    assert_string_equal(v, "");
    free(v);
    assert_null(hdr_get_value(m, "Cc"));
    assert_null(hdr_field_value(m, 99));
    assert_int_equal(hdr_count(m, "received"), 2);
    assert_int_equal(hdr_count(m, "To"), 2);
    assert_int_equal(hdr_count(m, "Cc"), 0);
    assert_int_equal(hdr_find(m, "Received", 1), 5);
    assert_int_equal(hdr_find(m, "Received", 2), -1);
    assert_int_equal(hdr_find(m, "Recei", 0), -1);
    hdr_msg_free(m);
}

static void test_edit(void **state)
{
    (void)state;
    const char *msg = "From: a@b\r\nTo: c@d\r\nDKIM-Signature: x\r\nSubject: s\r\n"
                      "DKIM-Signature: y\r\n\r\nbody\r\n";
    hdr_msg *m = hdr_parse(msg, strlen(msg), 50, 1000, NULL);
    assert_non_null(m);
    assert_int_equal(hdr_add_top(m, "Received", "from x by y"), 0);
    assert_int_equal(hdr_insert(m, m->nfields, "List-Id", "<l.example>"), 0);
    assert_int_equal(hdr_insert(m, 2, "X-Empty", ""), 0);
    assert_int_equal(hdr_replace(m, (size_t)hdr_find(m, "subject", 0), NULL, "[tag] s"), 0);
    assert_int_equal(hdr_replace(m, (size_t)hdr_find(m, "to", 0), "Reply-To",
                                 "folded\r\n value"), 0);
    assert_int_equal(hdr_remove_all(m, "dkim-signature"), 2);
    hdr_remove(m, (size_t)hdr_find(m, "From", 0));
    hdr_remove(m, 999);     /* out of range: no-op */
    size_t len;
    char *out = ser(m, &len);
    assert_string_equal(out, "Received: from x by y\r\nX-Empty:\r\nReply-To: folded\r\n value\r\n"
                             "Subject: [tag] s\r\nList-Id: <l.example>\r\n\r\nbody\r\n");
    assert_int_equal(len, strlen(out));
    free(out);
    /* refused edits: injection, bad names, out of range */
    assert_int_equal(hdr_add_top(m, "X", "a\r\nBcc: evil"), -1);
    assert_int_equal(hdr_add_top(m, "X", "a\nBcc: evil"), -1);
    assert_int_equal(hdr_add_top(m, "X", "a\r"), -1);
    assert_int_equal(hdr_add_top(m, "X", "a\r\n"), -1);
    assert_int_equal(hdr_add_top(m, "Bad Name", "v"), -1);
    assert_int_equal(hdr_add_top(m, "Bad:Name", "v"), -1);
    assert_int_equal(hdr_add_top(m, "", "v"), -1);
    assert_int_equal(hdr_insert(m, m->nfields + 1, "X", "v"), -1);
    assert_int_equal(hdr_replace(m, m->nfields, "X", "v"), -1);
    assert_int_equal(hdr_replace(m, 0, "X", "a\nb"), -1);
    hdr_msg_free(m);
}

static void test_edit_keeps_eol_style(void **state)
{
    (void)state;
    /* LF file: added fields use LF */
    const char *msg = "A: 1\nB: 2\n\nbody\n";
    hdr_msg *m = hdr_parse(msg, strlen(msg), 50, 1000, NULL);
    assert_non_null(m);
    assert_int_equal(hdr_add_top(m, "X", "y"), 0);
    size_t len;
    char *out = ser(m, &len);
    assert_string_equal(out, "X: y\nA: 1\nB: 2\n\nbody\n");
    free(out);
    hdr_msg_free(m);

    /* last field without a line end gets one when a field follows it */
    msg = "A: 1\r\nB: 2";
    m = hdr_parse(msg, strlen(msg), 50, 1000, NULL);
    assert_non_null(m);
    assert_int_equal(hdr_insert(m, m->nfields, "C", "3"), 0);
    out = ser(m, &len);
    assert_string_equal(out, "A: 1\r\nB: 2\r\nC: 3\r\n");
    free(out);
    hdr_msg_free(m);
}

static void test_serialize_ceiling(void **state)
{
    (void)state;
    const char *msg = "A: 1\r\n\r\n0123456789";
    hdr_msg *m = hdr_parse(msg, strlen(msg), 50, 1000, NULL);
    assert_non_null(m);
    buf *b = buf_create(10);
    assert_int_equal(hdr_serialize(m, b), -1);
    buf_free(b);
    hdr_msg_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_get_values),
        cmocka_unit_test(test_edit),
        cmocka_unit_test(test_edit_keeps_eol_style),
        cmocka_unit_test(test_serialize_ceiling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
