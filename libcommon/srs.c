/*
 * srs.c - Sender Rewriting Scheme, compatible with postsrsd (libsrs2).
 *
 * Owns nothing: pure functions over caller buffers, "now" passed in.
 *
 *   SRS0=HHHH=TT=domain=local@srs-domain
 *   SRS1=HHHH=srs0-domain==HHHH=TT=domain=local@srs-domain
 *
 * TT is (now / 86400) mod 1024 as two base32 characters (A-Z2-7, most
 * significant first). HHHH is the first four characters of base64url of
 * HMAC-SHA1(secret, lower(TT) lower(domain) lower(local)) for SRS0, and of
 * HMAC-SHA1(secret, lower(srs0-domain) lower("=HHHH=TT=domain=local")) for
 * SRS1, exactly as libsrs2 builds them (the SRS1 "user" keeps the separator
 * that followed "SRS0"). Reverse checks are case-insensitive, treat '+' as
 * '-' and '/' as '_' in the hash, accept any of the secrets, and accept a
 * time stamp whose age (mod 1024 days) is at most max_age_days. The tag
 * separator after SRS0/SRS1 may be '=', '+' or '-' (as libsrs2 accepts);
 * we always write '='. The hash must be exactly four characters.
 *
 * SECURITY: addresses come from peers (bounce recipients). Every length is
 * checked before copying; addresses longer than SRS_INPUT_MAX and senders
 * longer than SRS_SENDER_MAX are refused (SRS_SYNTAX), as are sender
 * domains containing '=' (they could not be split back unambiguously).
 */
#include "srs.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define SRS_HASH_LEN   4
#define SRS_INPUT_MAX  512     /* longest address srs_reverse() takes */
#define SRS_SENDER_MAX 256     /* longest sender (RFC 5321 path limit) */
#define SRS_DEFAULT_AGE 21

static const char srs_base32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
static const char srs_b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int  srs_is_sep(char c);
static int  srs_hash(const char *secret, const char *const *parts, size_t nparts,
                     char out[SRS_HASH_LEN + 1]);
static int  srs_hash_verify(const srs_secrets *s, const char *hash, size_t hlen,
                            const char *const *parts, size_t nparts);
static void srs_stamp(time_t now, char out[3]);
static int  srs_stamp_age(const char *tt, time_t now);
static int  srs_write(char *out, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int srs_is_sep(char c)
{
    return c == '=' || c == '+' || c == '-';
}

/* snprintf into out; 0, or -1 if it did not fit. */
static int srs_write(char *out, size_t outlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, outlen, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* First four base64url characters of HMAC-SHA1(secret, lower(parts...)). */
static int srs_hash(const char *secret, const char *const *parts, size_t nparts,
                    char out[SRS_HASH_LEN + 1])
{
    unsigned char data[SRS_INPUT_MAX * 2];
    size_t n = 0;
    for (size_t i = 0; i < nparts; i++) {
        size_t l = strlen(parts[i]);
        if (l > sizeof data - n)
            return -1;
        for (size_t k = 0; k < l; k++)
            data[n++] = (unsigned char)tolower((unsigned char)parts[i][k]);
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (HMAC(EVP_sha1(), secret, (int)strlen(secret), data, n, md, &mdlen) == NULL ||
        mdlen < 3)
        return -1;
    out[0] = srs_b64url[md[0] >> 2];
    out[1] = srs_b64url[((md[0] & 3) << 4) | (md[1] >> 4)];
    out[2] = srs_b64url[((md[1] & 15) << 2) | (md[2] >> 6)];
    out[3] = srs_b64url[md[2] & 63];
    out[4] = '\0';
    return 0;
}

/* 1 if some secret produces hash (case-insensitive, +/- and / _ equal). */
static int srs_hash_verify(const srs_secrets *s, const char *hash, size_t hlen,
                           const char *const *parts, size_t nparts)
{
    if (hlen != SRS_HASH_LEN)
        return 0;
    char want[SRS_HASH_LEN + 1];
    for (size_t i = 0; i < SRS_HASH_LEN; i++) {
        char c = hash[i];
        want[i] = c == '+' ? '-' : c == '/' ? '_' : (char)tolower((unsigned char)c);
    }
    for (size_t k = 0; k < s->nsecrets; k++) {
        char got[SRS_HASH_LEN + 1];
        if (s->secrets[k] == NULL || srs_hash(s->secrets[k], parts, nparts, got) != 0)
            continue;
        int same = 1;
        for (size_t i = 0; i < SRS_HASH_LEN; i++)
            if ((char)tolower((unsigned char)got[i]) != want[i])
                same = 0;
        if (same)
            return 1;
    }
    return 0;
}

static void srs_stamp(time_t now, char out[3])
{
    long days = (long)(now / 86400) % 1024;
    if (days < 0)
        days += 1024;
    out[0] = srs_base32[(days >> 5) & 31];
    out[1] = srs_base32[days & 31];
    out[2] = '\0';
}

/* Age in days (0..1023) of the two-character stamp, or -1 if malformed. */
static int srs_stamp_age(const char *tt, time_t now)
{
    int then = 0;
    for (int i = 0; i < 2; i++) {
        const char *p = strchr(srs_base32, toupper((unsigned char)tt[i]));
        if (tt[i] == '\0' || p == NULL)
            return -1;
        then = then * 32 + (int)(p - srs_base32);
    }
    long today = (long)(now / 86400) % 1024;
    if (today < 0)
        today += 1024;
    return (int)((today - then + 1024) % 1024);
}

int srs_is_srs(const char *addr)
{
    return addr != NULL &&
           (strncasecmp(addr, "SRS0", 4) == 0 || strncasecmp(addr, "SRS1", 4) == 0) &&
           srs_is_sep(addr[4]);
}

enum srs_result srs_forward(const srs_secrets *s, const char *sender,
                            const char *srs_domain, time_t now,
                            char *out, size_t outlen)
{
    if (sender[0] == '\0') {
        if (outlen < 1)
            return SRS_NOSPACE;
        out[0] = '\0';
        return SRS_OK;
    }
    const char *at = strrchr(sender, '@');
    if (at == NULL || at == sender || at[1] == '\0' || s->nsecrets == 0 ||
        s->secrets[0] == NULL || strlen(sender) > SRS_SENDER_MAX)
        return SRS_SYNTAX;
    const char *domain = at + 1;
    if (strchr(domain, '=') != NULL)     /* would not split back the same way */
        return SRS_SYNTAX;
    if (strcasecmp(domain, srs_domain) == 0)
        return srs_write(out, outlen, "%s", sender) ? SRS_NOSPACE : SRS_OK;

    char local[SRS_SENDER_MAX + 1];
    size_t llen = (size_t)(at - sender);
    memcpy(local, sender, llen);
    local[llen] = '\0';
    char hash[SRS_HASH_LEN + 1];
    int rc;

    if (strncasecmp(local, "SRS1", 4) == 0 && srs_is_sep(local[4])) {
        /* SRS1=HHHH=host=user: re-sign host and user for us. */
        char *host = strchr(local + 5, '=');
        if (host == NULL)
            return SRS_SYNTAX;
        host++;
        char *user = strchr(host, '=');
        if (user == NULL || user == host)
            return SRS_SYNTAX;
        *user++ = '\0';
        if (*user == '\0')
            return SRS_SYNTAX;
        const char *parts[] = { host, user };
        if (srs_hash(s->secrets[0], parts, 2, hash) != 0)
            return SRS_SYNTAX;
        rc = srs_write(out, outlen, "SRS1=%s=%s=%s@%s", hash, host, user, srs_domain);
    } else if (strncasecmp(local, "SRS0", 4) == 0 && srs_is_sep(local[4])) {
        /* SRS0 from another forwarder: wrap it in SRS1. */
        const char *user = local + 4;
        const char *parts[] = { domain, user };
        if (srs_hash(s->secrets[0], parts, 2, hash) != 0)
            return SRS_SYNTAX;
        rc = srs_write(out, outlen, "SRS1=%s=%s=%s@%s", hash, domain, user, srs_domain);
    } else {
        char tt[3];
        srs_stamp(now, tt);
        const char *parts[] = { tt, domain, local };
        if (srs_hash(s->secrets[0], parts, 3, hash) != 0)
            return SRS_SYNTAX;
        rc = srs_write(out, outlen, "SRS0=%s=%s=%s=%s@%s", hash, tt, domain, local,
                       srs_domain);
    }
    return rc ? SRS_NOSPACE : SRS_OK;
}

enum srs_result srs_reverse(const srs_secrets *s, const char *addr,
                            time_t now, char *out, size_t outlen)
{
    if (!srs_is_srs(addr))
        return SRS_NOT_SRS;
    if (strlen(addr) > SRS_INPUT_MAX)
        return SRS_SYNTAX;
    char local[SRS_INPUT_MAX + 1];
    const char *at = strrchr(addr, '@');
    size_t llen = at ? (size_t)(at - addr) : strlen(addr);
    memcpy(local, addr, llen);
    local[llen] = '\0';

    int max_age = s->max_age_days > 0 ? s->max_age_days : SRS_DEFAULT_AGE;
    char *hash = local + 5;
    char *p = strchr(hash, '=');
    if (p == NULL)
        return SRS_SYNTAX;
    size_t hlen = (size_t)(p - hash);

    if (local[3] == '1') {
        /* SRS1=HHHH=host==HHHH=TT=domain=local -> SRS0=HHHH=TT=...@host */
        char *host = p + 1;
        char *user = strchr(host, '=');
        if (user == NULL || user == host || user[1] == '\0')
            return SRS_SYNTAX;
        *user++ = '\0';
        const char *parts[] = { host, user };
        if (!srs_hash_verify(s, hash, hlen, parts, 2))
            return SRS_BAD_HASH;
        return srs_write(out, outlen, "SRS0%s@%s", user, host) ? SRS_NOSPACE : SRS_OK;
    }

    /* SRS0=HHHH=TT=domain=local */
    char *tt = p + 1;
    char *domain = strchr(tt, '=');
    if (domain == NULL || domain - tt != 2)
        return SRS_SYNTAX;
    *domain++ = '\0';
    char *user = strchr(domain, '=');
    if (user == NULL || user == domain || user[1] == '\0')
        return SRS_SYNTAX;
    *user++ = '\0';
    int age = srs_stamp_age(tt, now);
    if (age < 0)
        return SRS_SYNTAX;
    const char *parts[] = { tt, domain, user };
    if (!srs_hash_verify(s, hash, hlen, parts, 3))
        return SRS_BAD_HASH;
    if (age > max_age)
        return SRS_EXPIRED;
    return srs_write(out, outlen, "%s@%s", user, domain) ? SRS_NOSPACE : SRS_OK;
}

const char *srs_result_text(enum srs_result r)
{
    switch (r) {
    case SRS_OK:       return "ok";
    case SRS_NOT_SRS:  return "not an SRS address";
    case SRS_BAD_HASH: return "SRS hash does not verify";
    case SRS_EXPIRED:  return "SRS address has expired";
    case SRS_SYNTAX:   return "malformed SRS address";
    case SRS_NOSPACE:  return "SRS result does not fit";
    }
    return "unknown SRS result";
}
