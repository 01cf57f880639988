/*
 * rewrite_dmarc.h - DMARC From mitigation in rewrite (docs/rewrite.md):
 *
 *   - per alias: the mode stored with the alias (rewrite.aliases,
 *     003_dmarc_mitigation.sql), set with PATCH /v1/aliases/{addr};
 *   - forwarding: when the author domain's DMARC policy asks for it (or the
 *     alias says always), the copy for the alias's off-domain targets is a
 *     child spool message (origin "rewrite", parent the original) carrying
 *     the mitigated header, with its own relay job;
 *   - replies: an encoded From address (local=40author.example@DOMAIN,
 *     DOMAIN = MAILYARD_DMARC_ENCODE_DOMAIN) is delivered to the author while
 *     the author was seen encoded (libcommon spool_dmarc.h) within
 *     MAILYARD_DMARC_REPLY_WINDOW_DAYS, and refused at RCPT otherwise
 *     (classification, rewrite_classify.h).
 *
 * Ownership: rewrite_dmarc lives in rewrite_state; it owns its resolver and
 * the encode domain string.
 */
#ifndef MAILYARD_REWRITE_DMARC_H
#define MAILYARD_REWRITE_DMARC_H

#include "config.h"
#include "db.h"
#include "dmarc_mitigate.h"
#include "dns.h"
#include "worker.h"

typedef struct rewrite_dmarc {
    dns_resolver *dns;             /* owned; NULL: policies read as tempfail */
    char         *encode_domain;   /* owned, lower case, or NULL */
    long          window_days;     /* reply window */
    size_t        hdr_max_fields, hdr_max_field_len;
} rewrite_dmarc;

void rewrite_dmarc_init(rewrite_dmarc *d, const config *cfg);
void rewrite_dmarc_release(rewrite_dmarc *d);

/* The alias's mode. 1 found, 0 no such alias, -1 database error. */
int  rewrite_dmarc_alias_get(db_conn *c, const char *addr, enum dmarc_mitigation *mode,
                             int *always);
/* Sets it; 1 changed, 0 no such alias, -1 error. */
int  rewrite_dmarc_alias_set(db_conn *c, const char *addr, const char *mode, int always);

struct rewrite_state;
struct rewrite_plan;
struct spool_message;
/* For every alias expansion in p whose alias has a mitigation mode that
 * applies to msg: builds the mitigated child message, creates its relay
 * job (mail_from and off-domain targets of that expansion), records a
 * "dmarc_mitigated" event, and takes those targets out of p's relay
 * groups. 0, or -1 on a database error. */
int  rewrite_dmarc_divert(struct rewrite_state *st, worker_job_ctx *ctx,
                          const struct spool_message *msg, struct rewrite_plan *p);
/* PATCH /v1/aliases/{addr} (rewrite_api_dmarc.c). */
struct service;
int  rewrite_api_dmarc_register(struct service *svc, struct rewrite_state *st);

#endif
