/*
 * rewrite_addr.h - checking and normalising the addresses and domain names
 * that reach rewrite through its API and its jobs.
 *
 * An address is valid when "<address>" is a valid SMTP path for addr.h
 * (no null path, no source route, RFC 5321 length limits) and its domain is
 * a host name (labels of letters, digits and '-', 1..63 octets each, 253 in
 * all; no address literals). Normalising lower-cases it (ASCII), which is
 * how addresses are stored as keys and compared in rewrite.
 *
 * Pure: no I/O, no allocation; results go into caller buffers.
 */
#ifndef MAILYARD_REWRITE_ADDR_H
#define MAILYARD_REWRITE_ADDR_H

#include <stddef.h>

#define REWRITE_ADDR_MAX 256    /* RFC 5321 path limit, without brackets */

/* 0 and the address as written in out, or -1 and a reason in why
 * (a static string). Case is kept: it is what we relay to other domains,
 * whose local parts may be case-sensitive. */
int  rewrite_addr_check(const char *in, char *out, size_t outlen,
                        const char **why);
/* rewrite_addr_check() and lower-case: the form we store and look up. */
int  rewrite_addr_normalize(const char *in, char *out, size_t outlen,
                            const char **why);
/* 1 if name is a valid host name (see above), else 0. */
int  rewrite_addr_domain_valid(const char *name);
/* Lower-cases a domain name into out; 0, or -1 if invalid or too long. */
int  rewrite_addr_domain_normalize(const char *in, char *out, size_t outlen);
/* The address without its "+extension": the local part is cut at the
 * first character that is in delims (e.g. "+"; several characters mean
 * several delimiters, as Postfix's recipient_delimiter). Returns 1 and
 * "base@domain" in out when a non-empty base remains before a delimiter;
 * 0 when there is no extension (or delims is NULL/empty, or the delimiter
 * is the first character); -1 when out is too small. */
int  rewrite_addr_strip_extension(const char *addr, const char *delims,
                                  char *out, size_t outlen);
/* 1 if addr is a catch-all key "@domain" with a valid domain, else 0. */
int  rewrite_addr_is_catchall(const char *addr);
/* ASCII lower-case in place. */
void rewrite_addr_lower(char *s);

#endif
