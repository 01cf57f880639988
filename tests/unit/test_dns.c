/*
 * test_dns.c - unit tests for libcommon/dns.c's JSON-file backend (the
 * unbound backend is exercised against a dnslib server by
 * tests/integration/test_auth_checkauth.py).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "dns.h"

static char *zone_path(const char *json)
{
    char *path = strdup("/tmp/test_dns_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, json, strlen(json)), (ssize_t)strlen(json));
    close(fd);
    return path;
}

static dns_resolver *zone(const char *json)
{
    char err[256] = "";
    char *path = zone_path(json);
    dns_resolver *r = dns_resolver_create_file(path, err, sizeof(err));
    unlink(path);
    free(path);
    if (r == NULL)
        fail_msg("zone: %s", err);
    return r;
}

static const char *ZONE =
    "{\"Example.COM.\": ["
    "  {\"type\": \"A\", \"data\": \"192.0.2.1\"},"
    "  {\"type\": \"A\", \"data\": \"192.0.2.2\"},"
    "  {\"type\": \"AAAA\", \"data\": \"2001:db8::1\"},"
    "  {\"type\": \"MX\", \"data\": [10, \"mx.example.com.\"]},"
    "  {\"type\": \"TXT\", \"data\": [\"v=spf1 \", \"-all\"]}],"
    " \"null.example\": [{\"type\": \"MX\", \"data\": [0, \".\"]}],"
    " \"slow.example\": [{\"type\": \"TIMEOUT\"}, {\"type\": \"TXT\", \"data\": [\"x\"]}],"
    " \"alias.example\": [{\"type\": \"CNAME\", \"data\": \"example.com\"}],"
    " \"1.2.0.192.in-addr.arpa\": [{\"type\": \"PTR\", \"data\": \"host.example.com.\"}]}";

static void test_file_answers(void **state)
{
    (void)state;
    dns_resolver *r = zone(ZONE);
    dns_answer a;

    assert_int_equal(dns_query(r, "example.com", DNS_T_A, &a), 0);
    assert_int_equal(a.status, DNS_OK);
    assert_int_equal(a.n, 2);
    assert_string_equal(a.rrs[0].text, "192.0.2.1");
    dns_answer_release(&a);

    /* case-insensitive, trailing dot */
    dns_query(r, "EXAMPLE.com.", DNS_T_MX, &a);
    assert_int_equal(a.status, DNS_OK);
    assert_int_equal(a.n, 1);
    assert_int_equal(a.rrs[0].pref, 10);
    assert_string_equal(a.rrs[0].text, "mx.example.com");
    dns_answer_release(&a);

    dns_query(r, "example.com", DNS_T_TXT, &a);
    assert_int_equal(a.status, DNS_OK);
    assert_string_equal(a.rrs[0].text, "v=spf1 -all");
    assert_int_equal(a.rrs[0].len, 11);
    dns_answer_release(&a);

    dns_query(r, "example.com", DNS_T_AAAA, &a);
    assert_string_equal(a.rrs[0].text, "2001:db8::1");
    dns_answer_release(&a);

    dns_query(r, "null.example", DNS_T_MX, &a);
    assert_int_equal(a.status, DNS_OK);
    assert_string_equal(a.rrs[0].text, "");
    dns_answer_release(&a);

    dns_query(r, "1.2.0.192.in-addr.arpa", DNS_T_PTR, &a);
    assert_string_equal(a.rrs[0].text, "host.example.com");
    dns_answer_release(&a);
    dns_resolver_free(r);
}

static void test_file_statuses(void **state)
{
    (void)state;
    dns_resolver *r = zone(ZONE);
    dns_answer a;

    dns_query(r, "nowhere.example", DNS_T_A, &a);
    assert_int_equal(a.status, DNS_NXDOMAIN);
    assert_int_equal(a.n, 0);
    dns_answer_release(&a);

    dns_query(r, "null.example", DNS_T_A, &a);
    assert_int_equal(a.status, DNS_NODATA);
    dns_answer_release(&a);

    /* TIMEOUT: types without records time out, the others answer */
    dns_query(r, "slow.example", DNS_T_A, &a);
    assert_int_equal(a.status, DNS_TEMPFAIL);
    dns_answer_release(&a);
    dns_query(r, "slow.example", DNS_T_TXT, &a);
    assert_int_equal(a.status, DNS_OK);
    dns_answer_release(&a);

    /* CNAME followed for other types, answered for CNAME */
    dns_query(r, "alias.example", DNS_T_A, &a);
    assert_int_equal(a.status, DNS_OK);
    assert_int_equal(a.n, 2);
    dns_answer_release(&a);
    dns_query(r, "alias.example", DNS_T_CNAME, &a);
    assert_string_equal(a.rrs[0].text, "example.com");
    dns_answer_release(&a);

    dns_query(r, "bad..name", DNS_T_A, &a);
    assert_int_equal(a.status, DNS_PERMFAIL);
    dns_answer_release(&a);
    assert_string_equal(dns_status_text(DNS_TEMPFAIL), "tempfail");
    dns_resolver_free(r);
}

static void test_file_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "[]",
        "{\"a.example\": {}}",
        "{\"a.example\": [{\"data\": \"1.2.3.4\"}]}",
        "{\"a.example\": [{\"type\": \"SRV\", \"data\": \"x\"}]}",
        "{\"a.example\": [{\"type\": \"A\", \"data\": \"300.1.1.1\"}]}",
        "{\"a.example\": [{\"type\": \"MX\", \"data\": \"10 mx\"}]}",
        "{\"a.example\": [{\"type\": \"TXT\", \"data\": [1]}]}",
        "{\"a.example\": [",
    };
    char err[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *path = zone_path(bad[i]);
        err[0] = '\0';
        dns_resolver *r = dns_resolver_create_file(path, err, sizeof(err));
        unlink(path);
        free(path);
        if (r != NULL)
            fail_msg("accepted: %s", bad[i]);
        assert_true(err[0] != '\0');
    }
    assert_null(dns_resolver_create_file("/nonexistent/zone.json", err, sizeof(err)));
    dns_resolver_free(NULL);
}

static void test_wire_name_text(void **state)
{
    (void)state;
    char out[256];
    const unsigned char mx[] = { 2, 'm', 'x', 7, 'E', 'x', 'a', 'm', 'p', 'l', 'e', 0 };
    assert_int_equal(dns_wire_name_text(mx, sizeof(mx), out, sizeof(out)), 0);
    assert_string_equal(out, "mx.example");
    const unsigned char root[] = { 0 };
    assert_int_equal(dns_wire_name_text(root, 1, out, sizeof(out)), 0);
    assert_string_equal(out, "");
    const unsigned char trunc[] = { 5, 'a', 'b' };
    assert_int_equal(dns_wire_name_text(trunc, sizeof(trunc), out, sizeof(out)), -1);
    const unsigned char noend[] = { 1, 'a' };
    assert_int_equal(dns_wire_name_text(noend, sizeof(noend), out, sizeof(out)), -1);
    const unsigned char badch[] = { 3, 'a', ' ', 'b', 0 };
    assert_int_equal(dns_wire_name_text(badch, sizeof(badch), out, sizeof(out)), -1);
    const unsigned char dot[] = { 3, 'a', '.', 'b', 0 };
    assert_int_equal(dns_wire_name_text(dot, sizeof(dot), out, sizeof(out)), -1);
    const unsigned char ptr[] = { 0xc0, 0x0c };   /* compression pointer */
    assert_int_equal(dns_wire_name_text(ptr, sizeof(ptr), out, sizeof(out)), -1);
    assert_int_equal(dns_wire_name_text(mx, sizeof(mx), out, 5), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wire_name_text),
        cmocka_unit_test(test_file_answers),
        cmocka_unit_test(test_file_statuses),
        cmocka_unit_test(test_file_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
