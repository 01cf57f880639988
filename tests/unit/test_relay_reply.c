/*
 * test_relay_reply.c - unit tests for the relay's pure SMTP client parts
 * (services/relay/relay_reply.c): reply parser fed whole and byte by byte,
 * limits and malformed input, enhanced codes, EHLO keywords, dot-stuffing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../services/relay/relay_reply.c"

/* Feeds all of s; returns the number of complete replies (up to max). */
static int feed_all(relay_reply_parser *p, const char *s, size_t len, relay_reply *out,
                    int max)
{
    int got = 0;
    size_t off = 0;
    while (off < len && got < max) {
        int done = 0;
        size_t used = relay_reply_feed(p, s + off, len - off, &out[got], &done);
        if (p->err)
            return -1;
        off += used;
        if (done)
            got++;
        else if (used == 0)
            break;
    }
    return got;
}

static void test_single_line(void **state)
{
    (void)state;
    relay_reply_parser p;
    relay_reply r[2];
    relay_reply_parser_init(&p);
    const char *s = "250 2.1.0 Ok\r\n";
    assert_int_equal(feed_all(&p, s, strlen(s), r, 2), 1);
    assert_int_equal(r[0].code, 250);
    assert_string_equal(r[0].enhanced, "2.1.0");
    assert_string_equal(r[0].text, "2.1.0 Ok");
    assert_int_equal(r[0].nlines, 1);
}

static void test_multi_line_byte_by_byte(void **state)
{
    (void)state;
    relay_reply_parser p;
    relay_reply r;
    relay_reply_parser_init(&p);
    const char *s = "250-mx.example Hello\r\n250-SIZE 1000\r\n250-STARTTLS\r\n250 8BITMIME\r\n";
    int done = 0, replies = 0;
    for (size_t i = 0; i < strlen(s); i++) {
        size_t used = relay_reply_feed(&p, s + i, 1, &r, &done);
        assert_int_equal(used, 1);
        if (done) {
            replies++;
            assert_int_equal(i, strlen(s) - 1);   /* only at the very end */
        }
    }
    assert_int_equal(replies, 1);
    assert_int_equal(r.code, 250);
    assert_int_equal(r.nlines, 4);
    assert_string_equal(r.text, "mx.example Hello\nSIZE 1000\nSTARTTLS\n8BITMIME");
    relay_ehlo e;
    relay_ehlo_parse(&r, &e);
    assert_int_equal(e.starttls, 1);
    assert_int_equal(e.size, 1);
    assert_int_equal(e.size_max, 1000);
    assert_int_equal(e.eightbitmime, 1);
}

static void test_two_replies_one_buffer_and_bare_lf(void **state)
{
    (void)state;
    relay_reply_parser p;
    relay_reply r[3];
    relay_reply_parser_init(&p);
    const char *s = "354 go ahead\n221 2.0.0 Bye\r\n";
    int done = 0;
    size_t used = relay_reply_feed(&p, s, strlen(s), &r[0], &done);
    assert_int_equal(done, 1);
    assert_int_equal(used, strlen("354 go ahead\n"));
    assert_int_equal(r[0].code, 354);
    assert_string_equal(r[0].enhanced, "");
    used = relay_reply_feed(&p, s + used, strlen(s) - used, &r[1], &done);
    assert_int_equal(done, 1);
    assert_int_equal(r[1].code, 221);
}

static void test_code_only_line(void **state)
{
    (void)state;
    relay_reply_parser p;
    relay_reply r;
    relay_reply_parser_init(&p);
    assert_int_equal(feed_all(&p, "250\r\n", 5, &r, 1), 1);
    assert_int_equal(r.code, 250);
    assert_string_equal(r.text, "");
}

static void test_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "hello\r\n",                 /* no code */
        "25 short\r\n",              /* two digits */
        "250xOk\r\n",                /* bad separator */
        "650 no such class\r\n",     /* class 6 */
        "250-a\r\n251 b\r\n",        /* code changes */
        "099 low\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        relay_reply_parser p;
        relay_reply r[2];
        relay_reply_parser_init(&p);
        assert_int_equal(feed_all(&p, bad[i], strlen(bad[i]), r, 2), -1);
        assert_non_null(p.errstr);
        /* sticky */
        int done = 1;
        assert_int_equal(relay_reply_feed(&p, "250 ok\r\n", 8, r, &done), 0);
        assert_int_equal(done, 0);
    }
}

static void test_limits(void **state)
{
    (void)state;
    relay_reply_parser p;
    relay_reply r;
    relay_reply_parser_init(&p);
    /* A line longer than the limit is refused before its end arrives. */
    char big[RELAY_REPLY_LINE_MAX + 10];
    memset(big, 'a', sizeof(big));
    memcpy(big, "250 ", 4);
    int done = 0;
    relay_reply_feed(&p, big, sizeof(big), &r, &done);
    assert_int_equal(p.err, 1);
    assert_int_equal(done, 0);

    /* Too many lines. */
    relay_reply_parser_init(&p);
    for (int i = 0; i < RELAY_REPLY_LINES_MAX; i++) {
        relay_reply_feed(&p, "250-x\r\n", 7, &r, &done);
        assert_int_equal(p.err, 0);
        assert_int_equal(done, 0);
    }
    relay_reply_feed(&p, "250 x\r\n", 7, &r, &done);
    assert_int_equal(p.err, 1);

    /* Text beyond RELAY_REPLY_TEXT_MAX is truncated, not an error. */
    relay_reply_parser_init(&p);
    char line[1004];
    memset(line, 'b', sizeof(line));
    memcpy(line, "550-", 4);
    line[1002] = '\r';
    line[1003] = '\n';
    for (int i = 0; i < 8; i++)
        relay_reply_feed(&p, line, sizeof(line), &r, &done);
    relay_reply_feed(&p, "550 end\r\n", 9, &r, &done);
    assert_int_equal(p.err, 0);
    assert_int_equal(done, 1);
    assert_int_equal(strlen(r.text), RELAY_REPLY_TEXT_MAX - 1);
}

static void test_enhanced_codes(void **state)
{
    (void)state;
    static const struct { const char *in; const char *enh; } cases[] = {
        { "550 5.1.1 <x@y>: no such user\r\n", "5.1.1" },
        { "550 5.7.26 policy\r\n", "5.7.26" },
        { "550 4.1.1 wrong class\r\n", "" },
        { "550 5.1 too short\r\n", "" },
        { "550 5.1.1234 too long\r\n", "" },
        { "451 4.4.2 timeout\r\n", "4.4.2" },
        { "250 2.0.0\r\n", "2.0.0" },
        { "250 2.0.0x\r\n", "" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        relay_reply_parser p;
        relay_reply r;
        relay_reply_parser_init(&p);
        assert_int_equal(feed_all(&p, cases[i].in, strlen(cases[i].in), &r, 1), 1);
        assert_string_equal(r.enhanced, cases[i].enh);
    }
}

static void test_format(void **state)
{
    (void)state;
    relay_reply_parser p;
    relay_reply r;
    char out[64];
    relay_reply_parser_init(&p);
    const char *s = "550-5.1.1 first\r\n550 second\x01line\r\n";
    assert_int_equal(feed_all(&p, s, strlen(s), &r, 1), 1);
    relay_reply_format(&r, out, sizeof(out));
    assert_string_equal(out, "550 5.1.1 first second line");
    char small[8];
    relay_reply_format(&r, small, sizeof(small));
    assert_string_equal(small, "550 5.1");
}

static void test_text_is_cleaned(void **state)
{
    (void)state;
    relay_reply_parser p;
    relay_reply r;
    relay_reply_parser_init(&p);
    const char s[] = "550-5.1.1 caf\xc3\xa9\r\n550 nul\0byte\x7f\r\n";
    assert_int_equal(feed_all(&p, s, sizeof(s) - 1, &r, 1), 1);
    assert_int_equal(r.nlines, 2);
    assert_string_equal(r.text, "5.1.1 caf??\nnul byte ");
    assert_string_equal(r.enhanced, "5.1.1");
}

static void test_ehlo_without_extensions(void **state)
{
    (void)state;
    relay_reply_parser p;
    relay_reply r;
    relay_ehlo e;
    relay_reply_parser_init(&p);
    assert_int_equal(feed_all(&p, "250 mx.example\r\n", 16, &r, 1), 1);
    relay_ehlo_parse(&r, &e);
    assert_int_equal(e.starttls + e.size + e.eightbitmime, 0);
    relay_reply_parser_init(&p);
    const char *s = "250-mx\r\n250-size\r\n250 starttls\r\n";
    assert_int_equal(feed_all(&p, s, strlen(s), &r, 1), 1);
    relay_ehlo_parse(&r, &e);
    assert_int_equal(e.size, 1);
    assert_int_equal(e.size_max, 0);
    assert_int_equal(e.starttls, 1);
    assert_int_equal(e.pipelining, 0);
    /* PIPELINING (RFC 2920) as a whole keyword only */
    relay_reply_parser_init(&p);
    s = "250-mx\r\n250-pipelining\r\n250 DSN\r\n";
    assert_int_equal(feed_all(&p, s, strlen(s), &r, 1), 1);
    relay_ehlo_parse(&r, &e);
    assert_int_equal(e.pipelining, 1);
    assert_int_equal(e.dsn, 1);
    relay_reply_parser_init(&p);
    s = "250-mx\r\n250-PIPELININGX\r\n250 X-PIPELINING\r\n";
    assert_int_equal(feed_all(&p, s, strlen(s), &r, 1), 1);
    relay_ehlo_parse(&r, &e);
    assert_int_equal(e.pipelining, 0);
}

static void test_ehlo_auth_mechanisms(void **state)
{
    (void)state;
    relay_reply_parser p;
    relay_reply r;
    relay_ehlo e;
    relay_reply_parser_init(&p);
    const char *s = "250-mx\r\n250-AUTH CRAM-MD5 login\r\n250 STARTTLS\r\n";
    assert_int_equal(feed_all(&p, s, strlen(s), &r, 1), 1);
    relay_ehlo_parse(&r, &e);
    assert_int_equal(e.auth_login, 1);
    assert_int_equal(e.auth_plain, 0);
    relay_reply_parser_init(&p);
    s = "250-mx\r\n250-AUTH=PLAIN\r\n250 AUTHX PLAIN LOGIN\r\n";
    assert_int_equal(feed_all(&p, s, strlen(s), &r, 1), 1);
    relay_ehlo_parse(&r, &e);
    assert_int_equal(e.auth_plain, 1);
    assert_int_equal(e.auth_login, 0);   /* AUTHX is another keyword */
    relay_reply_parser_init(&p);
    s = "250-mx\r\n250 AUTH PLAINX LOGINS\r\n";
    assert_int_equal(feed_all(&p, s, strlen(s), &r, 1), 1);
    relay_ehlo_parse(&r, &e);
    assert_int_equal(e.auth_plain + e.auth_login, 0);
}

static void stuff_case(const char *in, const char *want)
{
    buf *b = buf_create(1024);
    assert_int_equal(relay_dot_stuff(in, strlen(in), b), 0);
    assert_int_equal(b->len, strlen(want));
    assert_memory_equal(b->data, want, b->len);
    buf_free(b);
}

static void test_dot_stuff(void **state)
{
    (void)state;
    stuff_case("a\r\nb\r\n", "a\r\nb\r\n.\r\n");
    stuff_case(".a\r\n", "..a\r\n.\r\n");
    stuff_case("x\r\n.\r\n..y\r\n", "x\r\n..\r\n...y\r\n.\r\n");
    stuff_case("no end", "no end\r\n.\r\n");
    stuff_case("", ".\r\n");
    stuff_case("a.b\r\n", "a.b\r\n.\r\n");
    stuff_case("x\n.y\n", "x\n..y\n\r\n.\r\n");   /* bare LF kept, still stuffed */
}

static void test_dot_stuff_ceiling(void **state)
{
    (void)state;
    buf *b = buf_create(8);
    assert_int_equal(relay_dot_stuff("0123456789\r\n", 12, b), -1);
    buf_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_line),
        cmocka_unit_test(test_multi_line_byte_by_byte),
        cmocka_unit_test(test_two_replies_one_buffer_and_bare_lf),
        cmocka_unit_test(test_code_only_line),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_enhanced_codes),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_text_is_cleaned),
        cmocka_unit_test(test_ehlo_without_extensions),
        cmocka_unit_test(test_ehlo_auth_mechanisms),
        cmocka_unit_test(test_dot_stuff),
        cmocka_unit_test(test_dot_stuff_ceiling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
