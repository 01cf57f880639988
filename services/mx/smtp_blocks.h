/*
 * smtp_blocks.h - mx's block rules (table mx.blocks, managed through
 * /v1/blocks, mx_api_blocks.c): client networks, addresses and sender
 * domains that mx refuses, each with a reason that is logged.
 *
 * Where each kind applies (docs/mx.md, "Block rules"):
 *   network  the client address (the proxied one behind PROXY), at
 *            connection: 554 5.7.1 and close;
 *   address  the envelope sender at MAIL FROM and each recipient at RCPT
 *            TO: 550 5.7.1;
 *   domain   the envelope sender's domain and its subdomains at MAIL FROM:
 *            550 5.7.1.
 * Addresses and domains compare case-insensitively. A rule past its
 * expires_at no longer matches (also before the next reload).
 *
 * Cache: the rules are held in memory and reloaded by a thread of this
 * module when mx.blocks_version changes (checked every
 * MAILYARD_MX_BLOCKS_REFRESH_SECONDS, default 5), so every replica sees a
 * change within that time. A database that does not answer keeps the last
 * rules (none before the first load: fail open) and is logged.
 *
 * Ownership: smtp_blocks_create() gives an object freed with
 * smtp_blocks_free() (accepts NULL; stops the thread). The pool is
 * borrowed. Lookups may run from any thread; a hit is copied out.
 */
#ifndef MAILYARD_SMTP_BLOCKS_H
#define MAILYARD_SMTP_BLOCKS_H

#include <stddef.h>
#include "config.h"
#include "db.h"

typedef struct smtp_blocks smtp_blocks;

enum smtp_block_kind { SMTP_BLOCK_ADDRESS = 0, SMTP_BLOCK_DOMAIN, SMTP_BLOCK_NETWORK };

#define SMTP_BLOCK_VALUE_MAX  256
#define SMTP_BLOCK_REASON_MAX 500

typedef struct smtp_block_hit {
    long long id;
    char      rule[SMTP_BLOCK_VALUE_MAX + 16];   /* "network:192.0.2.0/24" */
    char      reason[SMTP_BLOCK_REASON_MAX + 1];
} smtp_block_hit;

/* Reads the configuration, loads the rules once (a failure is logged, not
 * fatal) and starts the reload thread. 0, or -1 with err filled. */
int  smtp_blocks_create(const config *cfg, db_pool *db, smtp_blocks **out,
                        char *err, size_t errlen);
void smtp_blocks_free(smtp_blocks *b);

/* 1 with hit filled when a rule matches, else 0. b may be NULL (0). */
int  smtp_blocks_match_client(smtp_blocks *b, const char *ip, smtp_block_hit *hit);
int  smtp_blocks_match_sender(smtp_blocks *b, const char *addr, smtp_block_hit *hit);
int  smtp_blocks_match_rcpt(smtp_blocks *b, const char *addr, smtp_block_hit *hit);

/* "address", "domain", "network" -> kind. 0 or -1. Pure. */
int  smtp_blocks_kind_parse(const char *s, enum smtp_block_kind *kind);
const char *smtp_blocks_kind_name(enum smtp_block_kind kind);
/* Checks a rule value and writes its stored form (lower case; canonical
 * CIDR). 0, or -1 with why filled. Pure. */
int  smtp_blocks_value_normalize(enum smtp_block_kind kind, const char *in,
                                 char *out, size_t outlen, char *why, size_t whylen);

#endif
