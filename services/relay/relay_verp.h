/*
 * relay_verp.h - VERP (variable envelope return paths, Postfix's format):
 * list mail goes out one envelope per recipient with the recipient encoded
 * in the envelope sender,
 *
 *   <list>-bounces@lists.example + member@remote.example
 *     -> <list>-bounces+member=remote.example@lists.example
 *
 * so a bounce names the member by the address it comes back to (rewrite
 * decodes it: rewrite_verp.c). Delimiters MAILYARD_VERP_DELIMITERS (two
 * characters, default "+="; the first must be a recipient delimiter of
 * rewrite, MAILYARD_REWRITE_RECIPIENT_DELIMITER, so the address still
 * reaches the list's -bounces). Applies when MAILYARD_RELAY_VERP=on (or the
 * list's own "verp" setting, carried in the relay job payload, says so), to
 * messages of origin "lists" whose envelope sender's local part ends in
 * "-bounces".
 *
 * Pure functions; the caller owns every buffer.
 */
#ifndef MAILYARD_RELAY_VERP_H
#define MAILYARD_RELAY_VERP_H

#include <stddef.h>
#include <jansson.h>

/* The VERP switch for one relay job: the payload's "verp" (a boolean the
 * lists service sets from the list's own setting) wins over global
 * (MAILYARD_RELAY_VERP). */
int relay_verp_wanted(int global, const json_t *payload);
/* 1 when a message of this origin and envelope sender is sent with VERP. */
int relay_verp_applies(const char *origin, const char *mail_from);
/* The VERP sender for rcpt into out; 0, or -1 when it does not fit (or an
 * address is malformed): the caller then uses mail_from as it is. */
int relay_verp_encode(const char *mail_from, const char *rcpt, const char delims[2],
                      char *out, size_t outlen);

#endif
