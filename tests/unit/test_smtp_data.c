/*
 * test_smtp_data.c - unit tests of services/mx/smtp_data.c: end of data
 * only on CRLF.CRLF, dot-unstuffing, byte-by-byte feeding, size, long
 * lines, bare CR/LF, NUL, header size, every SMTP smuggling end-of-data
 * variant (none ends the data, in reject and normalize mode), BDAT (raw)
 * mode.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "../../services/mx/smtp_data.c"

/* Feeds in[0..n) in pieces of step bytes (0: all at once). Returns the
 * bytes consumed in total. */
static size_t feed(smtp_data *d, const char *in, size_t n, size_t step)
{
    size_t used = 0, off = 0;
    while (off < n) {
        size_t k = step == 0 || n - off < step ? n - off : step;
        size_t u = smtp_data_feed(d, in + off, k);
        used += u;
        off += k;
        if (d->done)
            break;
        assert_int_equal(u, k);      /* before the end, everything is used */
    }
    return used;
}

/* input, expected message, flags, bytes of input that belong to the data */
static const struct {
    const char *in;
    const char *msg;
    unsigned    flags;
    int         done;
} cases[] = {
    { ".\r\n", "", 0, 1 },
    { "a\r\n.\r\n", "a\r\n", 0, 1 },
    { "Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n", "Subject: x\r\n\r\nbody\r\n", 0, 1 },
    { "..\r\n.\r\n", ".\r\n", 0, 1 },
    { "..x\r\n...\r\n.\r\n", ".x\r\n..\r\n", 0, 1 },
    { ".x\r\n.\r\n", "x\r\n", 0, 1 },                      /* lenient unstuffing */
    { "a.\r\n.b\r\n.\r\n", "a.\r\nb\r\n", 0, 1 },
    { "a\n.\n", "a\n.\n", SMTP_DATA_BARE_LF, 0 },             /* not an end */
    { "a\r.\r", "a\r.", SMTP_DATA_BARE_CR, 0 },   /* not an end; last CR pending */
    { "a\n.\r\n", "a\n.\r\n", SMTP_DATA_BARE_LF, 0 },      /* LF then .CRLF: not an end */
    { "a\r\n.\n.\r\n", "a\r\n.\n.\r\n", SMTP_DATA_BARE_LF, 0 },
    { "a\nb\r\n.\r\n", "a\nb\r\n", SMTP_DATA_BARE_LF, 1 },
    { "a\rb\r\n.\r\n", "a\rb\r\n", SMTP_DATA_BARE_CR, 1 },
    { ".\rx\r\n.\r\n", ".\rx\r\n", SMTP_DATA_BARE_CR, 1 },
    { "bin\x00\xff\r\n.\r\n", "bin\x00\xff\r\n", SMTP_DATA_NUL, 1 },
};

static size_t case_len(const char *s, size_t i)
{
    /* the binary case has a NUL: its length is known */
    return i == sizeof cases / sizeof cases[0] - 1 ? 10 : strlen(s);
}

static void test_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = case_len(cases[i].in, i);
        size_t mlen = i == sizeof cases / sizeof cases[0] - 1 ? 7 : strlen(cases[i].msg);
        for (size_t step = 0; step <= 3; step++) {
            smtp_data d;
            smtp_data_init(&d, 1000, 0, 0);
            size_t used = feed(&d, cases[i].in, n, step);
            assert_int_equal(d.done, cases[i].done);
            assert_int_equal(d.flags, cases[i].flags);
            if (cases[i].done) {
                const char *end = memmem(cases[i].in, n, "\r\n.\r\n", 5);
                size_t want = strncmp(cases[i].in, ".\r\n", 3) == 0 ? 3
                              : (size_t)(end - cases[i].in) + 5;
                assert_int_equal(used, want);
            } else {
                assert_int_equal(used, n);
            }
            assert_int_equal(d.body.len, mlen);
            assert_memory_equal(d.body.data, cases[i].msg, mlen);
            assert_int_equal(d.size, mlen);
            smtp_data_release(&d);
        }
    }
}

static void test_done_uses_nothing(void **state)
{
    (void)state;
    smtp_data d;
    smtp_data_init(&d, 100, 0, 0);
    assert_int_equal(smtp_data_feed(&d, ".\r\nMAIL", 7), 3);
    assert_int_equal(smtp_data_feed(&d, "MAIL", 4), 0);
    smtp_data_release(&d);
}

static void test_size_limit(void **state)
{
    (void)state;
    smtp_data d;
    smtp_data_init(&d, 10, 0, 0);
    feed(&d, "0123456\r\n.\r\n", 12, 1);    /* 9 bytes: fits */
    assert_true(d.done);
    assert_int_equal(d.flags, 0);
    assert_int_equal(d.size, 9);
    smtp_data_release(&d);

    smtp_data_init(&d, 10, 0, 0);
    feed(&d, "0123456789\r\nmore\r\n.\r\n", 21, 0);
    assert_true(d.done);
    assert_int_equal(d.flags, SMTP_DATA_TOO_BIG);
    assert_int_equal(d.size, 18);         /* counted, */
    assert_int_equal(d.body.len, 0);      /* not stored */
    smtp_data_release(&d);
}

static void test_long_line(void **state)
{
    (void)state;
    size_t n = 998 + 2 + 3;
    char *in = malloc(n + 10);
    assert_non_null(in);
    memset(in, 'x', 998);
    memcpy(in + 998, "\r\n.\r\n", 5);
    smtp_data d;
    smtp_data_init(&d, 100000, 0, 0);
    feed(&d, in, n, 7);
    assert_true(d.done);
    assert_int_equal(d.flags, 0);          /* exactly 998 is fine */
    smtp_data_release(&d);

    memset(in, 'x', 999);
    memcpy(in + 999, "\r\n.\r\n", 5);
    smtp_data_init(&d, 100000, 0, 0);
    feed(&d, in, n + 1, 1);
    assert_true(d.done);
    assert_int_equal(d.flags, SMTP_DATA_LONG_LINE);
    smtp_data_release(&d);
    free(in);
}

static void test_many_lines_exact(void **state)
{
    (void)state;
    /* 2000 lines, some starting with dots; unstuffed output must match */
    buf in, want;
    buf_init(&in, 1 << 20);
    buf_init(&want, 1 << 20);
    for (int i = 0; i < 2000; i++) {
        if (i % 3 == 0) {
            assert_int_equal(buf_printf(&in, "..line %d\r\n", i), 0);
            assert_int_equal(buf_printf(&want, ".line %d\r\n", i), 0);
        } else {
            assert_int_equal(buf_printf(&in, "line %d\r\n", i), 0);
            assert_int_equal(buf_printf(&want, "line %d\r\n", i), 0);
        }
    }
    assert_int_equal(buf_append_str(&in, ".\r\n"), 0);
    for (size_t step = 1; step < 20; step += 6) {
        smtp_data d;
        smtp_data_init(&d, 1 << 20, 0, 0);
        assert_int_equal(feed(&d, in.data, in.len, step), in.len);
        assert_true(d.done);
        assert_int_equal(d.body.len, want.len);
        assert_memory_equal(d.body.data, want.data, want.len);
        smtp_data_release(&d);
    }
    buf_release(&in);
    buf_release(&want);
}


/* The end-of-data variants of SMTP smuggling: after "a", the fake end, then
 * a smuggled transaction. None may end the data; the real end follows. */
static const char *const smuggle[] = {
    "\n.\n", "\r.\r", "\r.\n", "\n.\r", "\n.\r\n", "\r\n.\n", "\r.\r\n",
    "\r\n.\r", "\r\n\x00.\r\n",
};

static void test_smuggling_variants(void **state)
{
    (void)state;
    for (size_t v = 0; v < sizeof smuggle / sizeof smuggle[0]; v++) {
        const char *fake = smuggle[v];
        size_t flen = v == 8 ? 6 : strlen(fake);
        for (unsigned opts = 0; opts <= SMTP_DATA_OPT_NORMALIZE; opts += SMTP_DATA_OPT_NORMALIZE) {
            for (size_t step = 0; step <= 2; step++) {
                buf in;
                buf_init(&in, 4096);
                assert_int_equal(buf_append_str(&in, "Subject: x\r\n\r\na"), 0);
                assert_int_equal(buf_append(&in, fake, flen), 0);
                assert_int_equal(buf_append_str(&in, "MAIL FROM:<x@y>\r\nRCPT TO:<v@z>\r\n"
                                                "DATA\r\nsmuggled\r\n"), 0);
                size_t before_end = in.len;
                assert_int_equal(buf_append_str(&in, ".\r\n"), 0);
                smtp_data d;
                smtp_data_init(&d, 10000, 0, opts);
                size_t used = feed(&d, in.data, in.len, step);
                assert_true(d.done);
                assert_int_equal(used, in.len);      /* only the real end ends */
                assert_true(d.body.len >= before_end - 2);
                if (opts == 0)
                    assert_true(d.flags & (SMTP_DATA_BARE_LF | SMTP_DATA_BARE_CR |
                                           SMTP_DATA_NUL));
                else if (v != 8)
                    assert_int_equal(d.flags & (SMTP_DATA_BARE_LF | SMTP_DATA_BARE_CR), 0);
                else
                    assert_true(d.flags & SMTP_DATA_NUL);
                if (opts != 0) {        /* normalized: every line ends in CRLF */
                    for (size_t k = 0; k < d.body.len; k++) {
                        if (d.body.data[k] == '\n')
                            assert_true(k > 0 && d.body.data[k - 1] == '\r');
                        if (d.body.data[k] == '\r')
                            assert_true(k + 1 < d.body.len && d.body.data[k + 1] == '\n');
                    }
                }
                smtp_data_release(&d);
                buf_release(&in);
            }
        }
    }
}

static void test_normalize(void **state)
{
    (void)state;
    smtp_data d;
    smtp_data_init(&d, 1000, 0, SMTP_DATA_OPT_NORMALIZE);
    const char in[] = "a\nb\rc\r\n.\r\n";
    assert_int_equal(feed(&d, in, sizeof in - 1, 1), sizeof in - 1);
    assert_true(d.done);
    assert_int_equal(d.flags, 0);
    assert_int_equal(d.body.len, 9);
    assert_memory_equal(d.body.data, "a\r\nb\r\nc\r\n", 9);
    smtp_data_release(&d);
}

static void test_header_limit(void **state)
{
    (void)state;
    smtp_data d;
    smtp_data_init(&d, 1000, 20, 0);
    const char ok[] = "A: 1\r\nB: 2\r\n\r\nlong body line that is more than twenty\r\n.\r\n";
    feed(&d, ok, sizeof ok - 1, 3);
    assert_true(d.done);
    assert_int_equal(d.flags, 0);
    smtp_data_release(&d);
    smtp_data_init(&d, 1000, 20, 0);
    const char big[] = "A: 1\r\nB: 2222222222222222222\r\n\r\nbody\r\n.\r\n";
    feed(&d, big, sizeof big - 1, 0);
    assert_true(d.done);
    assert_int_equal(d.flags, SMTP_DATA_HEADER_BIG);
    smtp_data_release(&d);
}

static void test_raw_bdat(void **state)
{
    (void)state;
    smtp_data d;
    smtp_data_init(&d, 1000, 0, SMTP_DATA_OPT_RAW);
    const char in[] = "A: 1\r\n\r\n.\r\n..x\r\n";
    assert_int_equal(smtp_data_feed(&d, in, 5), 5);
    assert_int_equal(smtp_data_feed(&d, in + 5, sizeof in - 6), sizeof in - 6);
    assert_false(d.done);
    smtp_data_finish(&d);
    assert_true(d.done);
    assert_int_equal(d.flags, 0);
    assert_int_equal(d.body.len, sizeof in - 1);       /* dots kept as sent */
    assert_memory_equal(d.body.data, in, sizeof in - 1);
    smtp_data_release(&d);

    smtp_data_init(&d, 1000, 0, SMTP_DATA_OPT_RAW);
    assert_int_equal(smtp_data_feed(&d, "a\n.\nb\r", 6), 6);
    smtp_data_finish(&d);
    assert_int_equal(d.flags, SMTP_DATA_BARE_LF | SMTP_DATA_BARE_CR);
    smtp_data_release(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_done_uses_nothing),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_long_line),
        cmocka_unit_test(test_many_lines_exact),
        cmocka_unit_test(test_smuggling_variants),
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_header_limit),
        cmocka_unit_test(test_raw_bdat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
