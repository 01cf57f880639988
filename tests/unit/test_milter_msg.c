/*
 * test_milter_msg.c - the envelope and message reassembly of mx's milter
 * mode (services/mx/milter_msg.c): addresses as the MTA passes them,
 * header values with and without the leading space, folded values with
 * bare LF made CRLF, the end of the header section, body chunks, the size
 * and recipient limits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "../../services/mx/milter_msg.c"

static void test_addr(void **state)
{
    (void)state;
    char a[SMTP_PATH_MAX + 1];
    assert_int_equal(milter_msg_addr("<a@b.example>", a, sizeof a), 0);
    assert_string_equal(a, "a@b.example");
    assert_int_equal(milter_msg_addr("a@b.example", a, sizeof a), 0);
    assert_string_equal(a, "a@b.example");
    assert_int_equal(milter_msg_addr("<>", a, sizeof a), 0);
    assert_string_equal(a, "");
    assert_int_equal(milter_msg_addr("<a\r\n@b>", a, sizeof a), -1);
    assert_int_equal(milter_msg_addr("<a<b>", a, sizeof a), -1);
    assert_int_equal(milter_msg_addr(NULL, a, sizeof a), -1);
    char longaddr[SMTP_PATH_MAX + 8];
    memset(longaddr, 'x', sizeof longaddr - 1);
    longaddr[sizeof longaddr - 1] = '\0';
    assert_int_equal(milter_msg_addr(longaddr, a, sizeof a), -1);
    char small[4];
    assert_int_equal(milter_msg_addr("<abcd>", small, sizeof small), -1);
}

static void test_envelope(void **state)
{
    (void)state;
    milter_msg *m = milter_msg_create(1024, 2);
    assert_int_equal(milter_msg_set_from(m, "<>"), 0);
    assert_string_equal(m->mail_from, "");
    assert_int_equal(milter_msg_set_from(m, "<s@x.example>"), 0);
    assert_string_equal(m->mail_from, "s@x.example");
    assert_int_equal(milter_msg_add_rcpt(m, "<>"), -1);          /* no null recipient */
    assert_int_equal(milter_msg_add_rcpt(m, "<r1@y.example>"), 0);
    assert_int_equal(milter_msg_add_rcpt(m, "<r2@y.example>"), 0);
    assert_int_equal(milter_msg_add_rcpt(m, "<r3@y.example>"), -2);
    assert_int_equal(m->nrcpts, 2);
    assert_string_equal(m->rcpts[1], "r2@y.example");
    milter_msg_free(m);
    milter_msg_free(NULL);
}

static void test_reassembly(void **state)
{
    (void)state;
    milter_msg *m = milter_msg_create(4096, 10);
    /* without SMFIP_HDR_LEADSPC the MTA dropped the space */
    assert_int_equal(milter_msg_header(m, "From", "<a@b.example>", 0), 0);
    /* with it the value is exact; Postfix folds with a bare LF */
    assert_int_equal(milter_msg_header(m, "Subject", "  two\n\tlines", 1), 0);
    assert_int_equal(milter_msg_header(m, "X-Crlf", " a\r\n b", 1), 0);
    assert_int_equal(milter_msg_header(m, "X-Empty", NULL, 0), 0);
    assert_int_equal(milter_msg_eoh(m), 0);
    assert_int_equal(milter_msg_eoh(m), 0);                      /* once only */
    assert_int_equal(milter_msg_body(m, (const unsigned char *)"body\r\n", 6), 0);
    assert_int_equal(milter_msg_body(m, (const unsigned char *)"more\r\n", 6), 0);
    assert_string_equal(m->data.data,
        "From: <a@b.example>\r\nSubject:  two\r\n\tlines\r\nX-Crlf: a\r\n b\r\n"
        "X-Empty: \r\n\r\nbody\r\nmore\r\n");
    milter_msg_free(m);

    /* a body without an eoh callback still gets the empty line */
    m = milter_msg_create(4096, 10);
    assert_int_equal(milter_msg_header(m, "A", "1", 0), 0);
    assert_int_equal(milter_msg_body(m, (const unsigned char *)"x", 1), 0);
    assert_string_equal(m->data.data, "A: 1\r\n\r\nx");
    milter_msg_free(m);
}

static void test_size_limit(void **state)
{
    (void)state;
    milter_msg *m = milter_msg_create(32, 10);
    assert_int_equal(milter_msg_header(m, "Subject", "0123456789", 0), 0);   /* 21 */
    assert_int_equal(milter_msg_eoh(m), 0);                                 /* 23 */
    assert_int_equal(milter_msg_body(m, (const unsigned char *)"123456789", 9), 0);
    assert_int_equal(m->too_big, 0);
    assert_int_equal(milter_msg_body(m, (const unsigned char *)"x", 1), -1);
    assert_int_equal(m->too_big, 1);
    /* sticky: nothing more is stored */
    assert_int_equal(milter_msg_body(m, (const unsigned char *)"", 0), -1);
    assert_int_equal(milter_msg_eoh(m), -1);
    assert_int_equal(m->data.len, 32);
    milter_msg_free(m);

    m = milter_msg_create(8, 10);
    assert_int_equal(milter_msg_header(m, "Subject", "too long", 0), -1);
    assert_int_equal(milter_msg_eoh(m), -1);
    milter_msg_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr),
        cmocka_unit_test(test_envelope),
        cmocka_unit_test(test_reassembly),
        cmocka_unit_test(test_size_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
