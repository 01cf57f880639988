/*
 * test_spf.c - unit tests for libcommon/spf*.c: record syntax, macro
 * expansion (the RFC 7208 §7.4 examples) and evaluation against the JSON
 * records resolver (the RFC 7208 Appendix A zone and examples, plus the
 * limit, error, include/redirect, HELO, IPv6 and exp= cases of the classic
 * SPF test-suite ideas).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <jansson.h>
#include <cmocka.h>

#include "spf.h"

/* RFC 7208 Appendix A, plus names the cases below use. */
static const char *BASE_ZONE =
    "{"
    "\"example.com\": [{\"type\":\"MX\",\"data\":[10,\"mail-a.example.com\"]},"
    "                  {\"type\":\"MX\",\"data\":[20,\"mail-b.example.com\"]},"
    "                  {\"type\":\"A\",\"data\":\"192.0.2.10\"},"
    "                  {\"type\":\"A\",\"data\":\"192.0.2.11\"},"
    "                  {\"type\":\"AAAA\",\"data\":\"2001:db8::10\"}],"
    "\"amy.example.com\": [{\"type\":\"A\",\"data\":\"192.0.2.65\"}],"
    "\"bob.example.com\": [{\"type\":\"A\",\"data\":\"192.0.2.66\"}],"
    "\"mail-a.example.com\": [{\"type\":\"A\",\"data\":\"192.0.2.129\"}],"
    "\"mail-b.example.com\": [{\"type\":\"A\",\"data\":\"192.0.2.130\"}],"
    "\"www.example.com\": [{\"type\":\"CNAME\",\"data\":\"example.com\"}],"
    "\"example.org\": [{\"type\":\"MX\",\"data\":[10,\"mail-c.example.org\"]}],"
    "\"mail-c.example.org\": [{\"type\":\"A\",\"data\":\"192.0.2.140\"}],"
    "\"10.2.0.192.in-addr.arpa\": [{\"type\":\"PTR\",\"data\":\"example.com\"}],"
    "\"11.2.0.192.in-addr.arpa\": [{\"type\":\"PTR\",\"data\":\"example.com\"}],"
    "\"65.2.0.192.in-addr.arpa\": [{\"type\":\"PTR\",\"data\":\"amy.example.com\"}],"
    "\"66.2.0.192.in-addr.arpa\": [{\"type\":\"PTR\",\"data\":\"bob.example.com\"}],"
    "\"129.2.0.192.in-addr.arpa\": [{\"type\":\"PTR\",\"data\":\"mail-a.example.com\"}],"
    "\"130.2.0.192.in-addr.arpa\": [{\"type\":\"PTR\",\"data\":\"mail-b.example.com\"}],"
    "\"140.2.0.192.in-addr.arpa\": [{\"type\":\"PTR\",\"data\":\"mail-c.example.org\"}],"
    "\"10.0.0.10.in-addr.arpa\": [{\"type\":\"PTR\",\"data\":\"bob.example.com\"}],"
    "\"inc.example\": [{\"type\":\"TXT\",\"data\":[\"v=spf1 ip4:198.51.100.0/24 -all\"]}],"
    "\"red.example\": [{\"type\":\"TXT\",\"data\":[\"v=spf1 ip4:198.51.100.0/24 ~all\"]}],"
    "\"nospf.example\": [{\"type\":\"A\",\"data\":\"192.0.2.1\"}],"
    "\"slow.example\": [{\"type\":\"TIMEOUT\"}],"
    "\"two.example\": [{\"type\":\"TXT\",\"data\":[\"v=spf1 -all\"]},"
    "                  {\"type\":\"TXT\",\"data\":[\"v=spf1 +all\"]}],"
    "\"other.example\": [{\"type\":\"TXT\",\"data\":[\"v=spf10 +all\"]},"
    "                    {\"type\":\"TXT\",\"data\":[\"google-site-verification=x\"]}],"
    "\"192.0.2.3._spf.example.com\": [{\"type\":\"A\",\"data\":\"127.0.0.2\"}],"
    "\"explain.example\": [{\"type\":\"TXT\",\"data\":"
    "    [\"%{i} is not one of %{d}'s designated mail servers.\"]}],"
    "\"helo.example\": [{\"type\":\"A\",\"data\":\"192.0.2.77\"},"
    "                   {\"type\":\"TXT\",\"data\":[\"v=spf1 a -all\"]}],"
    "\"manymx.example\": ["
    "  {\"type\":\"MX\",\"data\":[1,\"m1.example.com\"]},{\"type\":\"MX\",\"data\":[2,\"m2.example.com\"]},"
    "  {\"type\":\"MX\",\"data\":[3,\"m3.example.com\"]},{\"type\":\"MX\",\"data\":[4,\"m4.example.com\"]},"
    "  {\"type\":\"MX\",\"data\":[5,\"m5.example.com\"]},{\"type\":\"MX\",\"data\":[6,\"m6.example.com\"]},"
    "  {\"type\":\"MX\",\"data\":[7,\"m7.example.com\"]},{\"type\":\"MX\",\"data\":[8,\"m8.example.com\"]},"
    "  {\"type\":\"MX\",\"data\":[9,\"m9.example.com\"]},{\"type\":\"MX\",\"data\":[10,\"m10.example.com\"]},"
    "  {\"type\":\"MX\",\"data\":[11,\"m11.example.com\"]}],"
    "\"a1.example\": [{\"type\":\"A\",\"data\":\"192.0.2.200\"}],"
    "\"a2.example\": [{\"type\":\"A\",\"data\":\"192.0.2.200\"}],"
    "\"a3.example\": [{\"type\":\"A\",\"data\":\"192.0.2.200\"}],"
    "\"a4.example\": [{\"type\":\"A\",\"data\":\"192.0.2.200\"}],"
    "\"a5.example\": [{\"type\":\"A\",\"data\":\"192.0.2.200\"}],"
    "\"a6.example\": [{\"type\":\"A\",\"data\":\"192.0.2.200\"}],"
    "\"a7.example\": [{\"type\":\"A\",\"data\":\"192.0.2.200\"}],"
    "\"a8.example\": [{\"type\":\"A\",\"data\":\"192.0.2.200\"}],"
    "\"a9.example\": [{\"type\":\"A\",\"data\":\"192.0.2.200\"}],"
    "\"a10.example\": [{\"type\":\"A\",\"data\":\"192.0.2.200\"}],"
    "\"a11.example\": [{\"type\":\"A\",\"data\":\"192.0.2.200\"}],"
    "\"loop.example\": [{\"type\":\"TXT\",\"data\":[\"v=spf1 include:loop.example -all\"]}]"
    "}";

/* A resolver for BASE_ZONE with example.com's TXT set to record (if not
 * NULL). */
static dns_resolver *zone_with(const char *record)
{
    json_error_t jerr;
    json_t *z = json_loads(BASE_ZONE, 0, &jerr);
    char path[] = "/tmp/test_spf_XXXXXX", err[256];
    int fd;

    if (z == NULL)
        fail_msg("BASE_ZONE line %d: %s", jerr.line, jerr.text);
    if (record != NULL)
        json_array_append_new(json_object_get(z, "example.com"),
                              json_pack("{s:s,s:[s]}", "type", "TXT", "data", record));
    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(json_dump_file(z, path, 0), 0);
    json_decref(z);
    dns_resolver *r = dns_resolver_create_file(path, err, sizeof(err));
    unlink(path);
    if (r == NULL)
        fail_msg("zone: %s", err);
    return r;
}

struct eval_case {
    const char *record;      /* example.com's SPF record, or NULL */
    const char *ip;
    const char *mail_from;
    const char *helo;
    enum spf_result want;
};

static void test_eval_table(void **state)
{
    (void)state;
    static const struct eval_case cases[] = {
        /* RFC 7208 Appendix A.1 */
        { "v=spf1 +all", "192.0.2.99", "u@example.com", NULL, SPF_PASS },
        { "v=spf1 a -all", "192.0.2.10", "u@example.com", NULL, SPF_PASS },
        { "v=spf1 a -all", "192.0.2.11", "u@example.com", NULL, SPF_PASS },
        { "v=spf1 a -all", "192.0.2.12", "u@example.com", NULL, SPF_FAIL },
        { "v=spf1 a:example.org -all", "192.0.2.10", "u@example.com", NULL, SPF_FAIL },
        { "v=spf1 mx -all", "192.0.2.129", "u@example.com", NULL, SPF_PASS },
        { "v=spf1 mx -all", "192.0.2.130", "u@example.com", NULL, SPF_PASS },
        { "v=spf1 mx -all", "192.0.2.10", "u@example.com", NULL, SPF_FAIL },
        { "v=spf1 mx:example.org -all", "192.0.2.140", "u@example.com", NULL, SPF_PASS },
        { "v=spf1 mx mx:example.org -all", "192.0.2.129", "u@example.com", NULL, SPF_PASS },
        { "v=spf1 mx mx:example.org -all", "192.0.2.140", "u@example.com", NULL, SPF_PASS },
        { "v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.131", "u@example.com", NULL, SPF_PASS },
        { "v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.141", "u@example.com", NULL, SPF_PASS },
        { "v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.135", "u@example.com", NULL, SPF_FAIL },
        { "v=spf1 ptr -all", "192.0.2.65", "u@example.com", NULL, SPF_PASS },
        { "v=spf1 ptr -all", "192.0.2.140", "u@example.com", NULL, SPF_FAIL },
        { "v=spf1 ptr -all", "10.0.0.10", "u@example.com", NULL, SPF_FAIL },
        { "v=spf1 ip4:192.0.2.128/28 -all", "192.0.2.65", "u@example.com", NULL, SPF_FAIL },
        { "v=spf1 ip4:192.0.2.128/28 -all", "192.0.2.129", "u@example.com", NULL, SPF_PASS },
        /* qualifiers and the default */
        { "v=spf1 ~all", "192.0.2.1", "u@example.com", NULL, SPF_SOFTFAIL },
        { "v=spf1 ?all", "192.0.2.1", "u@example.com", NULL, SPF_NEUTRAL },
        { "v=spf1", "192.0.2.1", "u@example.com", NULL, SPF_NEUTRAL },
        { "v=spf1 -ip4:192.0.2.1 +all", "192.0.2.1", "u@example.com", NULL, SPF_FAIL },
        { "V=SPF1 IP4:192.0.2.1 -ALL", "192.0.2.1", "u@example.com", NULL, SPF_PASS },
        { "v=spf1 a:www.example.com -all", "192.0.2.10", "u@example.com", NULL, SPF_PASS },
        /* include */
        { "v=spf1 include:inc.example -all", "198.51.100.7", "u@example.com", NULL, SPF_PASS },
        { "v=spf1 include:inc.example -all", "203.0.113.1", "u@example.com", NULL, SPF_FAIL },
        { "v=spf1 include:inc.example ?all", "203.0.113.1", "u@example.com", NULL, SPF_NEUTRAL },
        { "v=spf1 include:nospf.example -all", "192.0.2.1", "u@example.com", NULL, SPF_PERMERROR },
        { "v=spf1 include:slow.example -all", "192.0.2.1", "u@example.com", NULL, SPF_TEMPERROR },
        { "v=spf1 include:loop.example -all", "192.0.2.1", "u@example.com", NULL, SPF_PERMERROR },
        /* redirect */
        { "v=spf1 redirect=red.example", "198.51.100.1", "u@example.com", NULL, SPF_PASS },
        { "v=spf1 redirect=red.example", "203.0.113.1", "u@example.com", NULL, SPF_SOFTFAIL },
        { "v=spf1 redirect=nospf.example", "203.0.113.1", "u@example.com", NULL, SPF_PERMERROR },
        { "v=spf1 -all redirect=red.example", "198.51.100.1", "u@example.com", NULL, SPF_FAIL },
        /* none, record selection, syntax */
        { NULL, "192.0.2.1", "u@nospf.example", NULL, SPF_NONE },
        { NULL, "192.0.2.1", "u@nxdomain.example", NULL, SPF_NONE },
        { NULL, "192.0.2.1", "u@other.example", NULL, SPF_NONE },
        { NULL, "192.0.2.1", "u@two.example", NULL, SPF_PERMERROR },
        { NULL, "192.0.2.1", "u@localhost", NULL, SPF_NONE },
        { NULL, "192.0.2.1", "u@slow.example", NULL, SPF_TEMPERROR },
        { "v=spf1 foo -all", "192.0.2.1", "u@example.com", NULL, SPF_PERMERROR },
        { "v=spf1 ip4:192.0.2.1/33 -all", "192.0.2.1", "u@example.com", NULL, SPF_PERMERROR },
        { "v=spf1 a:museum -all", "192.0.2.1", "u@example.com", NULL, SPF_PERMERROR },
        { "v=spf1 redirect=a.example redirect=b.example", "192.0.2.1", "u@example.com", NULL,
          SPF_PERMERROR },
        { "v=spf1 +all foo=%{x}", "192.0.2.1", "u@example.com", NULL, SPF_PERMERROR },
        { "v=spf1 +all moo.cow-far_out=man:dog/cat", "192.0.2.1", "u@example.com", NULL,
          SPF_PASS },
        /* the error is found even after a matching term: the record is parsed first */
        { "v=spf1 +all ip4:1.2.3.4/99", "192.0.2.1", "u@example.com", NULL, SPF_PERMERROR },
        /* lookups: 10 is fine, 11 is a permerror; 2 voids fine, 3 not */
        { "v=spf1 a:a1.example a:a2.example a:a3.example a:a4.example a:a5.example "
          "a:a6.example a:a7.example a:a8.example a:a9.example a:a10.example -all",
          "192.0.2.1", "u@example.com", NULL, SPF_FAIL },
        { "v=spf1 a:a1.example a:a2.example a:a3.example a:a4.example a:a5.example "
          "a:a6.example a:a7.example a:a8.example a:a9.example a:a10.example a:a11.example -all",
          "192.0.2.1", "u@example.com", NULL, SPF_PERMERROR },
        { "v=spf1 ip4:192.0.2.1 a:a1.example a:a2.example a:a3.example a:a4.example a:a5.example "
          "a:a6.example a:a7.example a:a8.example a:a9.example a:a10.example a:a11.example -all",
          "192.0.2.1", "u@example.com", NULL, SPF_PASS },
        { "v=spf1 a:v1.example a:v2.example -all", "192.0.2.1", "u@example.com", NULL, SPF_FAIL },
        { "v=spf1 a:v1.example a:v2.example a:v3.example -all", "192.0.2.1", "u@example.com",
          NULL, SPF_PERMERROR },
        { "v=spf1 mx:manymx.example -all", "192.0.2.1", "u@example.com", NULL, SPF_PERMERROR },
        /* temperror */
        { "v=spf1 a:slow.example -all", "192.0.2.1", "u@example.com", NULL, SPF_TEMPERROR },
        { "v=spf1 exists:slow.example -all", "192.0.2.1", "u@example.com", NULL, SPF_TEMPERROR },
        /* exists with macros */
        { "v=spf1 exists:%{i}._spf.%{d} -all", "192.0.2.3", "u@example.com", NULL, SPF_PASS },
        { "v=spf1 exists:%{i}._spf.%{d} -all", "192.0.2.4", "u@example.com", NULL, SPF_FAIL },
        /* IPv6, and IPv4-mapped IPv6 treated as IPv4 */
        { "v=spf1 ip6:2001:db8::/32 -all", "2001:db8::5", "u@example.com", NULL, SPF_PASS },
        { "v=spf1 ip6:2001:db8::/32 -all", "2001:db9::5", "u@example.com", NULL, SPF_FAIL },
        { "v=spf1 ip4:192.0.2.0/24 -all", "2001:db8::5", "u@example.com", NULL, SPF_FAIL },
        { "v=spf1 a -all", "2001:db8::10", "u@example.com", NULL, SPF_PASS },
        { "v=spf1 a//64 -all", "2001:db8::ffff", "u@example.com", NULL, SPF_PASS },
        { "v=spf1 a -all", "::ffff:192.0.2.10", "u@example.com", NULL, SPF_PASS },
        /* MX hosts without AAAA are not void lookups of their own */
        { "v=spf1 mx mx:example.org -all", "2001:db8::99", "u@example.com", NULL, SPF_FAIL },
        /* HELO identity when MAIL FROM is null */
        { NULL, "192.0.2.77", "", "helo.example", SPF_PASS },
        { NULL, "192.0.2.78", "<>", "helo.example", SPF_FAIL },
        /* MAIL FROM without local part: postmaster */
        { "v=spf1 exists:%{l}.example.com -all", "192.0.2.1", "example.com", NULL, SPF_FAIL },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct eval_case *c = &cases[i];
        dns_resolver *r = zone_with(c->record);
        spf_request req = { .ip = c->ip, .mail_from = c->mail_from, .helo = c->helo,
                            .now = 1700000000 };
        spf_outcome out;
        assert_int_equal(spf_check(r, &req, &out), 0);
        if (out.result != c->want)
            fail_msg("case %zu (%s, %s): got %s want %s (%s)", i,
                     c->record ? c->record : c->mail_from, c->ip,
                     spf_result_text(out.result), spf_result_text(c->want), out.reason);
        dns_resolver_free(r);
    }
}

static void test_eval_details(void **state)
{
    (void)state;
    dns_resolver *r = zone_with("v=spf1 ip4:192.0.2.10 -all exp=explain.example");
    spf_request req = { .ip = "192.0.2.1", .mail_from = "<u@example.com>", .now = 1 };
    spf_outcome out;

    assert_int_equal(spf_check(r, &req, &out), 0);
    assert_int_equal(out.result, SPF_FAIL);
    assert_string_equal(out.identity, "mailfrom");
    assert_string_equal(out.domain, "example.com");
    assert_string_equal(out.sender, "u@example.com");
    assert_string_equal(out.explanation,
                        "192.0.2.1 is not one of example.com's designated mail servers.");

    req.mail_from = "";
    req.helo = "helo.example";
    req.ip = "192.0.2.77";
    assert_int_equal(spf_check(r, &req, &out), 0);
    assert_string_equal(out.identity, "helo");
    assert_string_equal(out.sender, "postmaster@helo.example");
    assert_int_equal(out.result, SPF_PASS);

    req.ip = "not-an-ip";
    assert_int_equal(spf_check(r, &req, &out), 0);
    assert_int_equal(out.result, SPF_NONE);
    dns_resolver_free(r);
}

struct macro_case {
    const char *spec;
    const char *want;
};

static void test_macros(void **state)
{
    (void)state;
    /* RFC 7208 §7.4 */
    static const struct macro_case v4[] = {
        { "%{s}", "strong-bad@email.example.com" },
        { "%{o}", "email.example.com" },
        { "%{d}", "email.example.com" },
        { "%{d4}", "email.example.com" },
        { "%{d3}", "email.example.com" },
        { "%{d2}", "example.com" },
        { "%{d1}", "com" },
        { "%{dr}", "com.example.email" },
        { "%{d2r}", "example.email" },
        { "%{l}", "strong-bad" },
        { "%{l-}", "strong.bad" },
        { "%{lr}", "strong-bad" },
        { "%{lr-}", "bad.strong" },
        { "%{l1r-}", "strong" },
        { "%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com" },
        { "%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com" },
        { "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com" },
        { "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com" },
        { "%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net" },
        { "%{S}", "strong-bad%40email.example.com" },
        { "a%%b%_c%-d", "a%b c%20d" },
        { "%{h}", "mx.example.org" },
        { "%{p}", "unknown" },
    };
    spf_macro_ctx m = {
        .sender = "strong-bad@email.example.com", .domain = "email.example.com",
        .helo = "mx.example.org", .receiver = "mx.test", .now = 1234,
    };
    char out[512];

    assert_int_equal(inet_pton(AF_INET, "192.0.2.3", m.ip), 1);
    for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
        if (spf_macro_expand(v4[i].spec, &m, 0, out, sizeof(out)) != 0)
            fail_msg("%s: expansion failed", v4[i].spec);
        if (strcmp(out, v4[i].want) != 0)
            fail_msg("%s: got %s want %s", v4[i].spec, out, v4[i].want);
    }
    /* exp-only letters */
    assert_int_equal(spf_macro_expand("%{c} %{r} %{t}", &m, 1, out, sizeof(out)), 0);
    assert_string_equal(out, "192.0.2.3 mx.test 1234");
    assert_int_equal(spf_macro_expand("%{c}", &m, 0, out, sizeof(out)), -1);

    m.ipv6 = 1;
    assert_int_equal(inet_pton(AF_INET6, "2001:db8::cb01", m.ip), 1);
    assert_int_equal(spf_macro_expand("%{ir}.%{v}._spf.%{d2}", &m, 0, out, sizeof(out)), 0);
    assert_string_equal(out, "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"
                             ".ip6._spf.example.com");
    assert_int_equal(spf_macro_expand("%{c}", &m, 1, out, sizeof(out)), 0);
    assert_string_equal(out, "2001:db8::cb01");

    static const char *const bad[] = { "%{x}", "%{d0}", "%", "%{d", "%a", "%{}", "a b", "%{d2r+x}" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (spf_macro_expand(bad[i], &m, 0, out, sizeof(out)) == 0)
            fail_msg("%s: accepted", bad[i]);

    /* a domain-spec longer than 253 loses labels on the left */
    char longs[600] = "";
    for (int i = 0; i < 30; i++)
        strncat(longs, "abcdefghij.", sizeof(longs) - strlen(longs) - 1);
    strncat(longs, "%{d}", sizeof(longs) - strlen(longs) - 1);
    assert_int_equal(spf_macro_expand(longs, &m, 0, out, sizeof(out)), 0);
    assert_true(strlen(out) <= 253);
    assert_true(strlen(out) > 240);
    assert_int_equal(strcmp(out + strlen(out) - 17, "email.example.com"), 0);
}

static void test_parse(void **state)
{
    (void)state;
    static const char *const good[] = {
        "v=spf1", "v=spf1 ", "v=spf1  -all  ", "v=spf1 a mx ptr -all",
        "v=spf1 a/24 mx//64 a:example.com/24//64 ?mx:example.com//0",
        "v=spf1 ip4:10.0.0.0/8 ip6:::1 ip6:2001:db8::/32 ~all",
        "v=spf1 include:_spf.example.com exists:%{i}.bl.example.com -all",
        "v=spf1 redirect=_spf.example.com", "v=spf1 -all exp=explain.%{d}",
        "v=spf1 a:example.com. -all", "v=spf1 unknown-mod=anything -all",
    };
    static const char *const bad[] = {
        "v=spf", "v=spf1x", "spf1 -all", "v=spf1 include",
        "v=spf1 include:", "v=spf1 ip4:300.1.1.1", "v=spf1 ip4:10.0.0.0/", "v=spf1 ip4:1.2.3.4/08",
        "v=spf1 ip6:1.2.3.4", "v=spf1 ip4:::1", "v=spf1 a/33", "v=spf1 mx//129",
        "v=spf1 a:foo", "v=spf1 a:example.123", "v=spf1 exists", "v=spf1 allx",
        "v=spf1 all:example.com", "v=spf1 =all", "v=spf1 exp=a.example exp=b.example",
        "v=spf1 ptr/24", "v=spf1 include:example.com/24", "v=spf1 a:%{z}.example.com",
    };
    char err[160];
    spf_record *r;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (spf_record_parse(good[i], strlen(good[i]), &r, err, sizeof(err)) != 0)
            fail_msg("rejected \"%s\": %s", good[i], err);
        spf_record_free(r);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (spf_record_parse(bad[i], strlen(bad[i]), &r, err, sizeof(err)) == 0)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_null(r);
    }
    const char *t = "v=spf1 -a:example.com/24//64 ~ip4:192.0.2.0/25 redirect=x.example";
    assert_int_equal(spf_record_parse(t, strlen(t), &r, err, sizeof(err)), 0);
    assert_int_equal(r->n, 2);
    assert_int_equal(r->terms[0].mech, SPF_M_A);
    assert_int_equal(r->terms[0].qual, '-');
    assert_string_equal(r->terms[0].spec, "example.com");
    assert_int_equal(r->terms[0].cidr4, 24);
    assert_int_equal(r->terms[0].cidr6, 64);
    assert_int_equal(r->terms[1].qual, '~');
    assert_int_equal(r->terms[1].cidr4, 25);
    assert_string_equal(r->redirect, "x.example");
    spf_record_free(r);
    assert_string_equal(spf_result_text(SPF_SOFTFAIL), "softfail");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_macros),
        cmocka_unit_test(test_eval_table),
        cmocka_unit_test(test_eval_details),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
