/*
 * submit_pw.h - password hashing for the submission users: libxcrypt's
 * yescrypt ("$y$", crypt_gensalt_ra + crypt_r), a slow salted hash, and a
 * constant-time verification.
 *
 * SECURITY: passwords are never logged or kept; the crypt_data scratch
 * area is wiped after use. Verification against a user that does not
 * exist should still call submit_pw_verify() with a dummy hash
 * (submit_pw_hash of a random password) so timing does not tell which
 * user names exist.
 *
 * Ownership: submit_pw_hash() returns a malloc'd string the caller frees.
 */
#ifndef MAILYARD_SUBMIT_PW_H
#define MAILYARD_SUBMIT_PW_H

#include <stddef.h>

#define SUBMIT_PW_MAX 255      /* octets (the SASL field limit) */

/* The "$y$..." hash of pass, or NULL (random source or libcrypt failure). */
char *submit_pw_hash(const char *pass);
/* 1 when pass matches hash, 0 when not (or the hash is unusable). */
int   submit_pw_verify(const char *pass, const char *hash);

#endif
