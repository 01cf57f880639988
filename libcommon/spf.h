/*
 * spf.h - Sender Policy Framework (RFC 7208): record parsing (spf_parse.c),
 * macro expansion (spf_macro.c) and check_host() evaluation (spf.c).
 *
 * spf_check() evaluates the MAIL FROM identity, or the HELO identity when
 * MAIL FROM is null ("" or "<>"), for a client IP, with the limits of
 * RFC 7208 §4.6.4: 10 DNS-querying terms (include, a, mx, ptr, exists,
 * redirect) per evaluation, 2 void lookups, 10 names per mx/ptr. Every DNS
 * query goes through dns.h, so a timeout gives temperror, never a hang.
 *
 * The parser does no I/O (fuzzed by tests/fuzz/fuzz_spf.c).
 *
 * Ownership: spf_record_parse() returns a record the caller frees with
 * spf_record_free() (accepts NULL). spf_outcome is a plain struct filled by
 * spf_check(); it owns nothing.
 */
#ifndef MAILYARD_SPF_H
#define MAILYARD_SPF_H

#include <stddef.h>
#include <time.h>

#include "dns.h"

enum spf_result {
    SPF_NONE = 0, SPF_NEUTRAL, SPF_PASS, SPF_FAIL, SPF_SOFTFAIL,
    SPF_TEMPERROR, SPF_PERMERROR,
};

/* "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror" */
const char *spf_result_text(enum spf_result r);

/* --- spf_parse.c: records ------------------------------------------------ */

enum spf_mech {
    SPF_M_ALL, SPF_M_INCLUDE, SPF_M_A, SPF_M_MX, SPF_M_PTR, SPF_M_IP4,
    SPF_M_IP6, SPF_M_EXISTS,
};

typedef struct spf_term {
    enum spf_mech mech;
    char          qual;        /* '+', '-', '~' or '?' */
    char         *spec;        /* owned domain-spec (unexpanded), or NULL */
    int           cidr4;       /* 0..32 (32 when not given) */
    int           cidr6;       /* 0..128 (128 when not given) */
    unsigned char addr[16];    /* ip4 (first 4 bytes) / ip6 network */
} spf_term;

typedef struct spf_record {
    spf_term *terms;           /* owned, in record order */
    size_t    n;
    char     *redirect;        /* owned domain-spec, or NULL */
    char     *exp;             /* owned domain-spec, or NULL */
} spf_record;

#define SPF_MAX_TERMS 128

/* 1 if the TXT string is an SPF record ("v=spf1" then a space or the end,
 * case-insensitive). */
int  spf_is_record(const char *text, size_t len);
/* Parses a record. Returns 0, or -1 (a permerror) with err filled. */
int  spf_record_parse(const char *text, size_t len, spf_record **out,
                      char *err, size_t errlen);
void spf_record_free(spf_record *r);

/* --- spf_macro.c: macros (RFC 7208 §7) ----------------------------------- */

typedef struct spf_macro_ctx {
    const char   *sender;      /* s: local-part@domain */
    const char   *domain;      /* d: the current domain */
    const char   *helo;        /* h */
    const char   *receiver;    /* r (exp only) */
    time_t        now;         /* t (exp only) */
    int           ipv6;        /* client address family */
    unsigned char ip[16];      /* client address (4 bytes for IPv4) */
    dns_resolver *dns;         /* for %{p}; may be NULL ("unknown") */
} spf_macro_ctx;

/* 1 if spec is a valid macro-string (exp: also c, r, t allowed). */
int spf_macro_valid(const char *spec, size_t len, int exp);
/* Expands spec into out. For a domain-spec (exp = 0) the result is cut
 * from the left to at most 253 characters. Returns 0, or -1 on a syntax
 * error or if out is too small. */
int spf_macro_expand(const char *spec, const spf_macro_ctx *m, int exp,
                     char *out, size_t outlen);

/* --- spf.c: evaluation --------------------------------------------------- */

typedef struct spf_request {
    const char *ip;            /* client address, IPv4 or IPv6 text */
    const char *helo;          /* EHLO/HELO name (may be NULL) */
    const char *mail_from;     /* envelope sender, "" or "<>" when null */
    const char *receiver;      /* our host name for %{r} (NULL: "unknown") */
    time_t      now;
} spf_request;

typedef struct spf_outcome {
    enum spf_result result;
    char identity[12];         /* "mailfrom" or "helo" */
    char domain[256];          /* the identity's domain */
    char sender[512];          /* local-part@domain as evaluated */
    char reason[160];          /* why, for logs and the header comment */
    char explanation[256];     /* exp= text on fail (may be empty) */
    int  lookups;              /* DNS-querying terms used */
    int  void_lookups;
} spf_outcome;

/* Evaluates the request. Always fills out; returns 0 (-1 only if dns is
 * NULL). */
int spf_check(dns_resolver *dns, const spf_request *req, spf_outcome *out);

#endif
