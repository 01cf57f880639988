/*
 * rewrite_classify.h - what a recipient address is to us: the one decision
 * both the RCPT-time API (GET /v1/recipients/{addr}) and the rewrite job
 * make, in one place.
 *
 * Order of the checks (lookups use the lower-cased address):
 *   1. the domain is not ours (not in rewrite.domains and not the SRS
 *      domain)                                   -> REWRITE_FOREIGN
 *   2. an SRS0/SRS1 address in our SRS domain (or, with no SRS domain
 *      configured, in any of our domains): reversed with the SRS secrets
 *                                                -> REWRITE_SRS (original
 *                                                   filled) or
 *                                                   REWRITE_SRS_INVALID
 *   3. an alias                                  -> REWRITE_ALIAS (targets)
 *   4. a list known to the lists service         -> REWRITE_LIST
 *   5. with an "+extension" (resolver->delimiters): steps 3 and 4 for the
 *      address without it (user+tag@d -> user@d)  -> REWRITE_ALIAS/LIST
 *   6. postmaster@ or abuse@ (RFC 2142; also with an extension, and the
 *      bare "postmaster" of RFC 5321 4.5.1) when resolver->postmaster is
 *      set                                       -> REWRITE_ALIAS with the
 *                                                   one target postmaster
 *   7. the domain's catch-all alias "@domain"    -> REWRITE_ALIAS
 *   8. anything else                             -> REWRITE_UNKNOWN
 * matched is the key that matched (lower case): the alias or list address
 * (without the extension), "postmaster@d"/"abuse@d", or "@domain"; plans
 * use it as the alias name (loop detection) and the list address.
 *
 * The lookups are behind a resolver (function pointers) so that the logic
 * is pure and unit tests can drive it with in-memory tables; the service
 * plugs in PostgreSQL (rewrite_store.h) and the lists client
 * (rewrite_lists.h).
 *
 * Ownership: rewrite_classify() fills a rewrite_class_result the caller
 * releases with rewrite_class_result_release() (targets and original are
 * owned by it).
 */
#ifndef MAILYARD_REWRITE_CLASSIFY_H
#define MAILYARD_REWRITE_CLASSIFY_H

#include <stddef.h>
#include <time.h>

#include "srs.h"
#include "strlist.h"

enum rewrite_class {
    REWRITE_FOREIGN,
    REWRITE_ALIAS,
    REWRITE_SRS,
    REWRITE_SRS_INVALID,
    REWRITE_LIST,
    REWRITE_UNKNOWN,
};

/* Why a classification could not be made (transient: retry later). */
enum rewrite_err {
    REWRITE_OK = 0,
    REWRITE_ERR_DB,      /* PostgreSQL failed */
    REWRITE_ERR_LISTS,   /* the lists service did not answer 200/404 */
};

typedef struct rewrite_resolver {
    /* 1 if domain (lower case) is in rewrite.domains, 0 if not, -1 error. */
    int  (*domain_is_ours)(void *arg, const char *domain);
    /* 1 and the targets appended to out if addr is an alias, 0 if not,
     * -1 on error. */
    int  (*alias_get)(void *arg, const char *addr, strlist *out);
    /* 1 if addr is a list, 0 if not, -1 if the lists service is
     * unavailable. */
    int  (*list_exists)(void *arg, const char *addr);
    void *arg;
    /* Policy (NULL or "" disables each): the extension delimiters
     * (MAILYARD_REWRITE_RECIPIENT_DELIMITER) and the destination of
     * postmaster@/abuse@ without an alias (MAILYARD_REWRITE_POSTMASTER). */
    const char *delimiters;
    const char *postmaster;
    /* DMARC encode-address replies (NULL disables, rewrite_dmarc.h): the
     * encode domain (lower case; one of ours) and whether an author was
     * seen encoded within the reply window (1 yes, 0 no, -1 error). An
     * encoded address of a seen author classifies as an alias whose one
     * target is the author; an unseen or undecodable one as unknown. */
    const char *dmarc_domain;
    int  (*dmarc_seen)(void *arg, const char *author);
} rewrite_resolver;

typedef struct rewrite_srs_conf {
    srs_secrets secrets;      /* borrowed */
    const char *domain;       /* lower case, or NULL: any of our domains */
} rewrite_srs_conf;

typedef struct rewrite_class_result {
    enum rewrite_class cls;
    strlist targets;          /* REWRITE_ALIAS: the alias targets */
    char   *original;         /* REWRITE_SRS: the reversed address (owned) */
    char   *matched;          /* REWRITE_ALIAS/LIST: the key (owned) */
    const char *why;          /* REWRITE_SRS_INVALID: static reason */
} rewrite_class_result;

/* 1 if addr is the bare "postmaster" (RFC 5321 4.5.1), case-insensitive. */
int rewrite_classify_is_bare_postmaster(const char *addr);

/* addr must be a checked address (rewrite_addr_check) or the bare
 * "postmaster"; its case is kept
 * for the SRS reversal, so the original sender comes back as written.
 * Returns REWRITE_OK with *out filled, or an error (out released). */
enum rewrite_err rewrite_classify(const rewrite_resolver *r,
                                  const rewrite_srs_conf *srs,
                                  const char *addr, time_t now,
                                  rewrite_class_result *out);
void        rewrite_class_result_release(rewrite_class_result *res);
const char *rewrite_class_name(enum rewrite_class c);

#endif
