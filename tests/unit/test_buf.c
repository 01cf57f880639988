/*
 * test_buf.c - unit tests for libcommon/buf.c and xalloc.c's str_copy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "xalloc.h"

static void test_append_and_nul(void **state)
{
    (void)state;
    buf *b = buf_create(100);
    assert_non_null(b->data);
    assert_int_equal(b->len, 0);
    assert_int_equal(b->data[0], '\0');
    assert_int_equal(buf_append(b, "ab\0cd", 5), 0);
    assert_int_equal(b->len, 5);
    assert_memory_equal(b->data, "ab\0cd", 6);     /* includes the NUL */
    assert_int_equal(buf_append_str(b, "ef"), 0);
    assert_int_equal(b->len, 7);
    assert_int_equal(b->data[7], '\0');
    assert_int_equal(buf_append(b, NULL, 0), 0);
    buf_reset(b);
    assert_int_equal(b->len, 0);
    assert_string_equal(b->data, "");
    buf_free(b);
    buf_free(NULL);
}

struct ceil_case {
    size_t max;
    size_t first, second;   /* two appends */
    int    want_first, want_second;
    size_t want_len;
};

static void test_ceiling(void **state)
{
    (void)state;
    static const struct ceil_case cases[] = {
        { 10, 10, 0, 0, 0, 10 },
        { 10, 10, 1, 0, -1, 10 },
        { 10, 11, 0, -1, 0, 0 },
        { 10, 6, 5, 0, -1, 6 },
        { 0, 1, 0, -1, 0, 0 },
        { 1000, 999, 1, 0, 0, 1000 },
        { 1000, 999, 2, 0, -1, 999 },
    };
    char src[2000];
    memset(src, 'x', sizeof src);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct ceil_case *c = &cases[i];
        buf b;
        buf_init(&b, c->max);
        assert_int_equal(buf_append(&b, src, c->first), c->want_first);
        assert_int_equal(buf_append(&b, src, c->second), c->want_second);
        assert_int_equal(b.len, c->want_len);
        assert_true(b.cap <= c->max);
        assert_int_equal(b.data[b.len], '\0');
        buf_release(&b);
    }
    /* huge n does not overflow the check */
    buf *b = buf_create(10);
    assert_int_equal(buf_append(b, "x", 1), 0);
    assert_int_equal(buf_append(b, src, (size_t)-1), -1);
    assert_int_equal(b->len, 1);
    buf_free(b);
}

static void test_growth_doubles(void **state)
{
    (void)state;
    buf *b = buf_create(1 << 20);
    size_t prev = 0, grows = 0;
    for (int i = 0; i < 10000; i++) {
        assert_int_equal(buf_append(b, "0123456789", 10), 0);
        if (b->cap != prev) {
            if (prev != 0)
                assert_int_equal(b->cap, prev * 2);
            prev = b->cap;
            grows++;
        }
    }
    assert_int_equal(b->len, 100000);
    assert_true(grows < 20);
    buf_free(b);
}

static void test_printf(void **state)
{
    (void)state;
    buf *b = buf_create(64);
    assert_int_equal(buf_printf(b, "%s=%d", "n", 42), 0);
    assert_int_equal(buf_printf(b, ";%05d", 7), 0);
    assert_string_equal(b->data, "n=42;00007");
    assert_int_equal(b->len, 10);
    /* a long one forces growth past the first allocation */
    char big[60];
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(buf_printf(b, "%s", big), -1);     /* 10 + 59 > 64 */
    assert_string_equal(b->data, "n=42;00007");
    assert_int_equal(buf_printf(b, "%.54s", big), 0);   /* exactly 64 */
    assert_int_equal(b->len, 64);
    assert_int_equal(b->data[64], '\0');
    assert_int_equal(buf_printf(b, "%s", ""), 0);
    assert_int_equal(buf_printf(b, "z"), -1);
    buf_free(b);
}

static void test_consume_steal(void **state)
{
    (void)state;
    buf *b = buf_create(100);
    assert_int_equal(buf_append_str(b, "hello world"), 0);
    buf_consume(b, 6);
    assert_string_equal(b->data, "world");
    assert_int_equal(b->len, 5);
    buf_consume(b, 0);
    assert_string_equal(b->data, "world");
    size_t len = 0;
    char *s = buf_steal(b, &len);
    assert_string_equal(s, "world");
    assert_int_equal(len, 5);
    free(s);
    assert_int_equal(b->len, 0);
    assert_string_equal(b->data, "");
    assert_int_equal(buf_append_str(b, "again"), 0);
    buf_consume(b, 5);
    assert_string_equal(b->data, "");
    buf_free(b);
}

static void test_str_copy(void **state)
{
    (void)state;
    char d[6];
    assert_int_equal(str_copy(d, sizeof d, "abcde"), 0);
    assert_string_equal(d, "abcde");
    assert_int_equal(str_copy(d, sizeof d, "abcdef"), -1);
    assert_string_equal(d, "abcde");
    assert_int_equal(str_copy(d, 1, "x"), -1);
    assert_string_equal(d, "");
    assert_int_equal(str_copy(d, 0, "x"), -1);
    char *p = xstrndup("abcdef", 3);
    assert_string_equal(p, "abc");
    free(p);
    p = xstrdup("");
    assert_string_equal(p, "");
    free(p);
}

/* An empty buffer holds no allocation: an embedded buf whose bytes were
 * stolen needs no release (valgrind and LeakSanitizer check this), and the
 * functions still work on it. */
static void test_empty_holds_nothing(void **state)
{
    (void)state;
    buf b;
    buf_init(&b, 16);
    assert_string_equal(b.data, "");
    buf_reset(&b);
    buf_consume(&b, 0);
    char *s = buf_steal(&b, NULL);        /* steal from a never-grown buf */
    assert_string_equal(s, "");
    free(s);
    assert_int_equal(buf_printf(&b, "%s-%d", "ab", 7), 0);
    assert_string_equal(b.data, "ab-7");
    size_t len = 0;
    s = buf_steal(&b, &len);
    assert_int_equal(len, 4);
    assert_string_equal(s, "ab-7");
    free(s);
    assert_string_equal(b.data, "");      /* no buf_release: nothing leaks */

    buf z;
    buf_init(&z, 0);                      /* a zero ceiling fits only "" */
    assert_int_equal(buf_printf(&z, "%s", ""), 0);
    assert_int_equal(buf_printf(&z, "x"), -1);
    assert_int_equal(buf_append_str(&z, "x"), -1);
    assert_string_equal(z.data, "");
    buf_release(&z);
    buf_release(&z);                      /* releasing twice is harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_holds_nothing),
        cmocka_unit_test(test_append_and_nul),
        cmocka_unit_test(test_ceiling),
        cmocka_unit_test(test_growth_doubles),
        cmocka_unit_test(test_printf),
        cmocka_unit_test(test_consume_steal),
        cmocka_unit_test(test_str_copy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
