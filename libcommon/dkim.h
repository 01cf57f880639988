/*
 * dkim.h - DKIM (RFC 6376) signing and verification, with RSA-SHA256 and
 * Ed25519-SHA256 (RFC 8463), and the pieces ARC (arc.h) shares with it.
 *
 * Modules (one file each):
 *   dkim_tags.c    tag=value lists (DKIM-Signature, ARC-*, key records),
 *                  with limits on tag count and lengths; base64 helpers.
 *   dkim_canon.c   simple and relaxed canonicalization of header fields and
 *                  bodies, byte-exact; a bare LF counts as a line end (a
 *                  message read from a file), as dkimpy does.
 *   dkim_key.c     private keys from PEM (RSA, Ed25519), public keys from
 *                  key records, the DNS TXT record to publish.
 *   dkim_verify.c  verification of every DKIM-Signature of a message, with
 *                  the key lookup as a callback (dkim_key_lookup_fn).
 *   dkim_sign.c    signing: relaxed/relaxed, From over-signed, folded at 78.
 *   dkim_dns.c     the default key lookup over dns.h and the entry points
 *                  that take a resolver (dkim_verify_message,
 *                  arc_verify_message).
 *
 * Results (dkim_result.result): "pass", "fail" (bad signature, body hash
 * mismatch, expired), "neutral" (unused by us), "temperror" (DNS tempfail),
 * "permerror" (syntax, missing or revoked key, rsa-sha1, unknown
 * algorithm), "policy" (a valid-looking signature we refuse: an RSA key
 * under 1024 bits, RFC 8301). With l= shorter than the body the result is
 * computed as usual and reason says "l= covers only part of the body".
 *
 * SECURITY: everything in a message and in a key record is peer input;
 * limits: DKIM_MAX_SIGS signatures, DKIM_MAX_HEADERS header fields in the
 * message, DKIM_MAX_TAGS tags and DKIM_MAX_TAG_LEN bytes per tag value.
 *
 * Ownership: dkim_key objects belong to the caller (dkim_key_free accepts
 * NULL). Strings returned by functions below are malloc'd for the caller
 * unless said otherwise.
 */
#ifndef MAILYARD_DKIM_H
#define MAILYARD_DKIM_H

#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "dns.h"
#include "hdr.h"

#define DKIM_MAX_SIGS      16
#define DKIM_MAX_HEADERS   1000
#define DKIM_MAX_FIELD_LEN (64 * 1024)
#define DKIM_MAX_TAGS      64
#define DKIM_MAX_TAG_LEN   (16 * 1024)
#define DKIM_MAX_H_NAMES   128

/* --- dkim_tags.c ---------------------------------------------------------- */

typedef struct dkim_tag {
    char  name[32];
    char *value;        /* owned; FWS removed at both ends (not inside) */
} dkim_tag;

typedef struct dkim_tags {
    dkim_tag *tags;     /* owned array */
    size_t    n;
} dkim_tags;

/* Parses "a=1; b=2;" (RFC 6376 §3.2). Duplicate tags, a tag name that is
 * not ALPHA *(ALPHA/DIGIT/"_"), a missing '=', more than DKIM_MAX_TAGS tags
 * or a value over DKIM_MAX_TAG_LEN give -1 with err filled. On success the
 * caller releases out with dkim_tags_release (also safe after an error). */
int         dkim_tags_parse(const char *s, size_t len, dkim_tags *out,
                            char *err, size_t errlen);
const char *dkim_tags_get(const dkim_tags *t, const char *name);
void        dkim_tags_release(dkim_tags *t);
/* Decodes base64 ignoring white space. Returns a malloc'd buffer and its
 * length in *outlen, or NULL on a bad character or length. */
unsigned char *dkim_b64_decode(const char *s, size_t len, size_t *outlen);
/* Encodes base64 (no white space). Caller frees. */
char       *dkim_b64_encode(const unsigned char *p, size_t len);

/* --- dkim_canon.c --------------------------------------------------------- */

enum dkim_canon { DKIM_CANON_SIMPLE = 0, DKIM_CANON_RELAXED = 1 };

/* Parses "c=" ("relaxed/simple", "simple", ...). Returns 0 or -1. */
int  dkim_canon_parse(const char *c, enum dkim_canon *hdr, enum dkim_canon *body);
/* Appends the canonical form of one raw header field ("Name: value\r\n",
 * folded as received) to out, ending in CRLF unless strip_eol. */
int  dkim_canon_header(enum dkim_canon c, const char *raw, size_t len,
                       int strip_eol, buf *out);
/* Appends the canonical body to out. */
int  dkim_canon_body(enum dkim_canon c, const char *body, size_t len, buf *out);
/* SHA-256 of the canonical body, streamed (no copy of the body): the same
 * bytes dkim_canon_body makes, of which only the first limit are hashed
 * (l=; DKIM_BODY_ALL for all). *canon_len (may be NULL) gets the length
 * of the whole canonical body. Returns 0 or -1. */
#define DKIM_BODY_ALL (~0ULL)
int  dkim_canon_body_hash(enum dkim_canon c, const char *body, size_t len,
                          unsigned long long limit, unsigned char dig[32],
                          unsigned long long *canon_len);
/* Returns a copy of the raw field with the value of its b= tag deleted
 * (RFC 6376 §3.7), and its final line end removed. NULL when it has no b=
 * tag. */
char *dkim_canon_strip_b(const char *raw, size_t len, size_t *outlen);

/* --- dkim_key.c ----------------------------------------------------------- */

typedef struct dkim_key dkim_key;

enum dkim_algo { DKIM_ALGO_RSA_SHA256 = 0, DKIM_ALGO_ED25519_SHA256 = 1 };

dkim_key   *dkim_key_load_file(const char *path, char *err, size_t errlen);
dkim_key   *dkim_key_load_pem(const char *pem, size_t len, char *err, size_t errlen);
void        dkim_key_free(dkim_key *k);
enum dkim_algo dkim_key_algo(const dkim_key *k);
const char *dkim_algo_name(enum dkim_algo a);     /* "rsa-sha256" ... */
int         dkim_key_bits(const dkim_key *k);
/* "v=DKIM1; k=rsa; p=..." (or k=ed25519 with the raw 32-byte key). */
char       *dkim_key_dns_record(const dkim_key *k);
/* Signs the SHA-256 digest (RSA: PKCS#1 v1.5 over sha256; Ed25519: pure
 * Ed25519 over the 32-byte digest, RFC 8463). Returns base64 or NULL. */
char       *dkim_key_sign_digest(const dkim_key *k, const unsigned char dig[32]);

/* A public key from a key record's p= (decoded): RSA SubjectPublicKeyInfo
 * or PKCS#1, or the raw 32 bytes of an Ed25519 key. NULL if unusable. */
typedef struct dkim_pubkey dkim_pubkey;
dkim_pubkey *dkim_pubkey_create(enum dkim_algo algo, const unsigned char *p, size_t len);
void         dkim_pubkey_free(dkim_pubkey *pk);
int          dkim_pubkey_bits(const dkim_pubkey *pk);
/* 1 when sig is a valid signature of the digest, else 0. */
int          dkim_pubkey_verify_digest(const dkim_pubkey *pk, const unsigned char dig[32],
                                       const unsigned char *sig, size_t siglen);

/* --- dkim_verify.c -------------------------------------------------------- */

typedef struct dkim_result {
    char result[16];    /* pass fail neutral temperror permerror policy */
    char domain[256];
    char selector[128];
    char algo[32];
    char header_b[16];  /* first 8 characters of b= (RFC 6008) */
    char reason[160];
} dkim_result;

enum dkim_lookup_status { DKIM_LOOKUP_OK = 0, DKIM_LOOKUP_NONE, DKIM_LOOKUP_TEMPFAIL };

/* Looks up the TXT records of name ("<selector>._domainkey.<domain>").
 * On DKIM_LOOKUP_OK fills *recs with up to max malloc'd strings (each one
 * TXT record, its strings concatenated) and *n; the verifier frees them. */
typedef enum dkim_lookup_status (*dkim_key_lookup_fn)(void *ctx, const char *name,
                                                      char **recs, size_t max,
                                                      size_t *n);

/* Parsed message: the input is copied. Returns NULL on a header section
 * that cannot be parsed (err says why). Shared with ARC. */
hdr_msg *dkim_msg_parse(const char *msg, size_t len, char *err, size_t errlen);

/* Verifies every DKIM-Signature (at most DKIM_MAX_SIGS; later ones are
 * ignored). *out is a malloc'd array of *n results (NULL and 0 when the
 * message has no signature); caller frees. Returns 0, or -1 when the
 * message cannot be parsed at all (nothing allocated). */
int dkim_verify_message_cb(dkim_key_lookup_fn lookup, void *ctx,
                           const char *msg, size_t len, time_t now,
                           dkim_result **out, size_t *n);

/* Verifies one signature-like field (DKIM-Signature or, with arc_mode,
 * ARC-Message-Signature: no v=, i= is the ARC instance) of a parsed
 * message; sig_index is the field's index in m. Fills res. */
void dkim_verify_field(dkim_key_lookup_fn lookup, void *ctx, const hdr_msg *m,
                       size_t sig_index, int arc_mode, time_t now, dkim_result *res);

/* Hashes (SHA-256) the fields named in h (colon-separated, picked
 * bottom-up; a name with no instance left counts as empty: over-signing)
 * and then the signature field sig_raw without its b= value and final line
 * end (RFC 6376 §3.7). Returns 0 or -1. */
int dkim_hash_headers(const hdr_msg *m, const char *h, enum dkim_canon hc,
                      const char *sig_raw, size_t sig_len, unsigned char dig[32]);

/* Verifies data (already hashed to dig) against the key record of
 * selector._domainkey.domain. Returns the result string and fills reason;
 * used by ARC-Seal verification. */
const char *dkim_verify_digest(dkim_key_lookup_fn lookup, void *ctx,
                               const char *domain, const char *selector,
                               enum dkim_algo algo, const unsigned char dig[32],
                               const char *b64sig, char *reason, size_t reasonlen);

/* --- dkim_sign.c ---------------------------------------------------------- */

/* Signs msg with key for domain/selector (relaxed/relaxed). headers is a
 * colon-separated list of field names ("from:to:subject"); NULL means the
 * default list (DKIM_DEFAULT_HEADERS). Each named field present in the
 * message is signed (every instance), From once more (over-signing).
 * timestamp 0 means time(NULL). On success *value is the DKIM-Signature
 * field value (after "DKIM-Signature: "), folded at 78 columns with
 * "\r\n\t"; caller frees. Returns 0, or -1 with err filled. */
#define DKIM_DEFAULT_HEADERS \
    "from:to:cc:subject:date:message-id:reply-to:in-reply-to:references:" \
    "list-id:list-unsubscribe:list-unsubscribe-post:mime-version:" \
    "content-type:content-transfer-encoding"
int dkim_sign(const dkim_key *key, const char *domain, const char *selector,
              const char *headers, time_t timestamp, const char *msg, size_t len,
              char **value, char *err, size_t errlen);

/* The relaxed body hash shared by the signatures of one message (the
 * relay signs with rsa and ed25519): zero it (set = 0) before the first
 * dkim_sign_shared, which fills it; later calls for the same body reuse
 * it. Only for the same message body. */
typedef struct dkim_body_hash {
    int           set;
    unsigned char dig[32];
} dkim_body_hash;
/* dkim_sign with a shared body hash (bh may be NULL: dkim_sign). */
int dkim_sign_shared(const dkim_key *key, const char *domain, const char *selector,
                     const char *headers, time_t timestamp, const char *msg, size_t len,
                     dkim_body_hash *bh, char **value, char *err, size_t errlen);

/* Shared by dkim_sign and arc_seal: builds the h= list (names present in
 * the message, each as many times as present, From once more) and the
 * signature; see dkim_sign.c. tags_before is everything up to "h=" (e.g.
 * "v=1; a=rsa-sha256; c=relaxed/relaxed; d=..; s=..; t=..;"), field_name the
 * field to create. arc_skip drops ARC-* and the field itself from h=. */
int dkim_sign_field(const dkim_key *key, const hdr_msg *m, const char *field_name,
                    const char *tags_before, const char *headers, int arc_skip,
                    char **value, char *err, size_t errlen);

/* Folds the value of field_name (tags separated by "; ") so that lines
 * stay within 78 columns: breaks between tags, after ':' in h= and
 * anywhere inside b= and bh=. Line breaks are "\r\n\t". Caller frees. */
char *dkim_fold(const char *field_name, const char *value);
/* Signs an already computed digest the same way (folded, b= last): used by
 * ARC-Seal. digest_input is called with the folded value whose b= is
 * empty to get the digest. */
typedef int (*dkim_digest_fn)(void *ctx, const char *field_name, const char *folded_no_b,
                              unsigned char dig[32]);
char *dkim_sign_value_cb(const dkim_key *key, const char *field_name,
                         const char *tags_without_b, dkim_digest_fn fn, void *ctx);

/* --- dkim_dns.c ----------------------------------------------------------- */

/* The default lookup: ctx is a dns_resolver. */
enum dkim_lookup_status dkim_lookup_dns(void *ctx, const char *name, char **recs,
                                        size_t max, size_t *n);
/* dkim_verify_message_cb with the DNS lookup. */
int dkim_verify_message(dns_resolver *dns, const char *msg, size_t len, time_t now,
                        dkim_result **out, size_t *n);

#endif
