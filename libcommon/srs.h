/*
 * srs.h - Sender Rewriting Scheme, compatible with postsrsd.
 *
 * Forward:  SRS0=HHHH=TT=domain=local@srs-domain
 *   TT   = (days since the epoch) mod 1024, two base32 chars (A-Z2-7), most
 *          significant first;
 *   HHHH = first 4 chars of base64url(HMAC-SHA1(secret,
 *          lower(TT) || lower(domain) || lower(local))).
 * An address that already is SRS0 is rewritten as SRS1 as postsrsd does
 * (SRS1=HHHH=orig-srs-domain==HHHH=TT=domain=local@srs-domain).
 *
 * Reverse: case-insensitive; in the hash '+' equals '-' and '/' equals '_';
 * accepted for ages up to max_age_days (21 by default); any secret of the
 * list verifies, the first one signs.
 *
 * The module is pure (no I/O); "now" is passed in so tests can fix the time.
 * Results are written into caller buffers; -1 on a too-small buffer.
 */
#ifndef MAILYARD_SRS_H
#define MAILYARD_SRS_H

#include <stddef.h>
#include <time.h>

enum srs_result {
    SRS_OK = 0,
    SRS_NOT_SRS,     /* the address is not an SRS address */
    SRS_BAD_HASH,    /* forged: no secret verifies it */
    SRS_EXPIRED,     /* older than max_age_days (or from the future) */
    SRS_SYNTAX,      /* SRS prefix but malformed */
    SRS_NOSPACE,     /* output buffer too small */
};

typedef struct srs_secrets {
    const char *const *secrets;  /* not owned; the first one signs */
    size_t            nsecrets;
    int               max_age_days;
} srs_secrets;

/* Rewrite sender (local@domain) into out under srs_domain. A sender already
 * in srs_domain, or the null sender "", is copied unchanged. */
enum srs_result srs_forward(const srs_secrets *s, const char *sender,
                            const char *srs_domain, time_t now,
                            char *out, size_t outlen);
/* Recover the original sender of an SRS0/SRS1 address. */
enum srs_result srs_reverse(const srs_secrets *s, const char *addr,
                            time_t now, char *out, size_t outlen);
int             srs_is_srs(const char *addr);
const char     *srs_result_text(enum srs_result r);

#endif
