/*
 * test_relay_tmap.c - unit tests for the relay's transport map parser and
 * lookup (services/relay/relay_tmap.c), and the AUTH keyword reader of
 * relay_reply.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../services/relay/relay_tmap.c"

static relay_tmap *parse(const char *s, char *err, size_t errlen)
{
    return relay_tmap_parse(s, strlen(s), err, errlen);
}

static void test_parse_and_find(void **state)
{
    (void)state;
    char err[256] = "";
    relay_tmap *m = parse(
        "# comment\n"
        "\n"
        "Domain.Example   smarthost:[relay.example]:587 auth=/x/creds tls=verify\n"
        "sender:App@Example.test smtp:127.0.0.1:2525   # trailing comment\n"
        "*.example        lmtp:mail.example\n"
        "*.sub.example    lmtp:[::1]:2424 tls=encrypt\n"
        "strict.test      mx tls=verify\r\n"
        "*                smarthost:fallback.test\n", err, sizeof(err));
    assert_non_null(m);
    assert_int_equal(m->n, 6);

    const relay_route *r = relay_tmap_find(m, "x@y.test", "domain.example");
    assert_non_null(r);
    assert_int_equal(r->kind, RELAY_ROUTE_SMARTHOST);
    assert_string_equal(r->host, "relay.example");
    assert_int_equal(r->port, 587);
    assert_true(r->tls_set);
    assert_int_equal(r->tls, RELAY_TLS_VERIFY);
    assert_string_equal(r->auth_file, "/x/creds");

    /* the sender wins over the domain */
    r = relay_tmap_find(m, "app@example.TEST", "domain.example");
    assert_int_equal(r->kind, RELAY_ROUTE_SMARTHOST);
    assert_string_equal(r->host, "127.0.0.1");
    assert_int_equal(r->port, 2525);
    assert_false(r->tls_set);

    r = relay_tmap_find(m, "", "a.example");
    assert_int_equal(r->kind, RELAY_ROUTE_LMTP);
    assert_string_equal(r->host, "mail.example");
    assert_int_equal(r->port, 24);
    /* the longest wildcard wins */
    r = relay_tmap_find(m, "", "x.sub.example");
    assert_string_equal(r->host, "::1");
    assert_int_equal(r->port, 2424);
    /* "*.example" does not match "example" itself: the default does */
    r = relay_tmap_find(m, "", "example");
    assert_string_equal(r->host, "fallback.test");
    r = relay_tmap_find(m, "", "STRICT.test");
    assert_int_equal(r->kind, RELAY_ROUTE_MX);
    assert_int_equal(r->tls, RELAY_TLS_VERIFY);
    r = relay_tmap_find(m, "", "badexample");   /* not a label boundary */
    assert_string_equal(r->host, "fallback.test");
    relay_tmap_free(m);

    m = parse("a.test mx\n", err, sizeof(err));
    assert_null(relay_tmap_find(m, "s@x.test", "b.test"));
    relay_tmap_free(m);
    assert_null(relay_tmap_find(NULL, "s@x.test", "b.test"));
}

static void test_errors_name_the_line(void **state)
{
    (void)state;
    static const struct { const char *text; const char *want; } bad[] = {
        { "a.test\n", "line 1: expected" },
        { "# x\na.test pigeon:host\n", "line 2: unknown transport" },
        { "a.test smarthost:\n", "line 1: bad host:port" },
        { "a.test smarthost:h:0\n", "bad host:port" },
        { "a.test smarthost:h:99999\n", "bad host:port" },
        { "a.test smarthost:::1:25\n", "bad host:port" },
        { "a.test smarthost:[::1\n", "bad host:port" },
        { "a.test smarthost:h tls=maybe\n", "tls= must be" },
        { "a.test smarthost:h colour=red\n", "unknown option" },
        { "a.test mx auth=/x\n", "auth= needs" },
        { "sender:nobody smtp:h\n", "sender: needs an address" },
        { "a*.test smtp:h\n", "bad key" },
        { "u@a.test smtp:h\n", "bad key" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "";
        relay_tmap *m = parse(bad[i].text, err, sizeof(err));
        if (m != NULL)
            fail_msg("accepted: %s", bad[i].text);
        if (strstr(err, bad[i].want) == NULL)
            fail_msg("%s: error \"%s\" lacks \"%s\"", bad[i].text, err, bad[i].want);
    }
    char err[256] = "";
    char big[RELAY_TMAP_LINE_MAX + 20];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_null(parse(big, err, sizeof(err)));
    assert_non_null(strstr(err, "longer than"));
    assert_null(relay_tmap_parse("a.test mx\0x", 11, err, sizeof(err)));
}

static void test_load_reads_credentials(void **state)
{
    (void)state;
    char dir[] = "/tmp/test-relay-tmap-XXXXXX", cred[128], map[128], err[300] = "";
    assert_non_null(mkdtemp(dir));
    snprintf(cred, sizeof(cred), "%s/creds", dir);
    snprintf(map, sizeof(map), "%s/map", dir);
    FILE *f = fopen(cred, "w");
    assert_non_null(f);
    fputs("user@example:pa:ss word\n", f);
    fclose(f);
    f = fopen(map, "w");
    assert_non_null(f);
    fprintf(f, "a.test smarthost:h:587 auth=%s\n", cred);
    fclose(f);
    relay_tmap *m = relay_tmap_load(map, err, sizeof(err));
    assert_non_null(m);
    assert_string_equal(m->e[0].route.auth_user, "user@example");
    assert_string_equal(m->e[0].route.auth_pass, "pa:ss word");
    relay_tmap_free(m);

    f = fopen(cred, "w");
    assert_non_null(f);
    fputs("no-colon-here\n", f);
    fclose(f);
    assert_null(relay_tmap_load(map, err, sizeof(err)));
    assert_non_null(strstr(err, "username:password"));
    remove(cred);
    assert_null(relay_tmap_load(map, err, sizeof(err)));
    remove(map);
    assert_null(relay_tmap_load(map, err, sizeof(err)));
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_find),
        cmocka_unit_test(test_errors_name_the_line),
        cmocka_unit_test(test_load_reads_credentials),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
