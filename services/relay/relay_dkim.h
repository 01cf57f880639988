/*
 * relay_dkim.h - the relay's DKIM keys (relay.dkim_keys, sql/004) and the
 * signing of outgoing mail:
 *
 *   relay_dkim_keygen.c  new key pairs with OpenSSL EVP (RSA 2048, Ed25519)
 *   relay_dkim_store.c   the table, and the per-process cache of the active
 *                        keys (reloaded when a cheap version check changes)
 *   relay_dkim_files.c   keys from MAILYARD_RELAY_DKIM_KEY_DIR (read at start;
 *                        a table key of the same domain and algorithm wins)
 *   relay_sign.c         ARC sealing and DKIM signing of a message right
 *                        before it leaves (relay_sign_message)
 *   relay_api_dkim.c     /v1/dkim/keys (list, generate, rotate, retire)
 *
 * SECURITY: private keys (PEM) never appear in logs, events or answers.
 *
 * Ownership: the key cache (relay_dkim_cache) belongs to the relay state
 * (relay_state.dkim), created at start and freed after the workers stop;
 * worker threads share it (a mutex guards the swap; readers hold a
 * reference on an immutable snapshot).
 */
#ifndef MAILYARD_RELAY_DKIM_H
#define MAILYARD_RELAY_DKIM_H

#include <stddef.h>
#include <jansson.h>

#include "db.h"
#include "dkim.h"
#include "service.h"
#include "spool.h"
#include "worker.h"

struct relay_state;

#define RELAY_DKIM_DOMAIN_MAX   253
#define RELAY_DKIM_SELECTOR_MAX 63

/* relay_dkim_keygen.c: generates a private key of algorithm ("rsa-sha256"
 * or "ed25519-sha256"); *pem (caller frees, wipe before free) and *txt
 * (the public record). Returns 0, or -1 with err filled. */
int relay_dkim_keygen(const char *algorithm, char **pem, char **txt, char *err,
                      size_t errlen);
/* Frees a PEM after overwriting it; accepts NULL. */
void relay_dkim_pem_free(char *pem);

/* relay_dkim_store.c */

/* A loaded active key (immutable while a snapshot is referenced). */
typedef struct relay_dkim_entry {
    long long id;
    char      domain[RELAY_DKIM_DOMAIN_MAX + 1];
    char      selector[RELAY_DKIM_SELECTOR_MAX + 1];
    enum dkim_algo algo;
    dkim_key *key;          /* owned by the snapshot */
} relay_dkim_entry;

typedef struct relay_dkim_snapshot relay_dkim_snapshot;
typedef struct relay_dkim_cache relay_dkim_cache;

relay_dkim_cache *relay_dkim_cache_create(void);
void              relay_dkim_cache_free(relay_dkim_cache *cache);   /* accepts NULL */
/* The keys changed (this process's API): the next snapshot_get checks the
 * table instead of trusting the snapshot for up to a second. */
void              relay_dkim_cache_touch(relay_dkim_cache *cache);

/* relay_dkim_files.c: keys from files <domain>.<selector>.key. */
#define RELAY_DKIM_FILES_MAX 1000
typedef struct relay_dkim_files relay_dkim_files;
/* Loads the directory (see relay_dkim_files.c). NULL with err on an
 * unreadable directory or an unusable key file. */
relay_dkim_files *relay_dkim_files_load(const char *dir, char *err, size_t errlen);
void              relay_dkim_files_free(relay_dkim_files *f);       /* accepts NULL */
const relay_dkim_entry *relay_dkim_files_find(const relay_dkim_files *f, const char *domain,
                                              enum dkim_algo algo);
/* The keys (of domain, or all when NULL) as API key objects with "source":
 * "file", "id": null and the DNS record; never the private key. */
json_t           *relay_dkim_files_json(const relay_dkim_files *f, const char *domain);
/* Makes the cache's lookups fall back to f (borrowed; set before the
 * workers start, outlives them). */
void              relay_dkim_cache_set_files(relay_dkim_cache *cache,
                                             const relay_dkim_files *f);

/* Returns a referenced snapshot of the active keys, reloaded from c when
 * the table changed since the last load (one small query per call), or
 * NULL on a database error. Release with relay_dkim_snapshot_release. */
relay_dkim_snapshot *relay_dkim_snapshot_get(relay_dkim_cache *cache, db_conn *c);
void relay_dkim_snapshot_release(relay_dkim_snapshot *s);   /* accepts NULL */
/* The newest active key of domain with algo (case-insensitive) in the
 * table, else a file key of domain with algo, or NULL. */
const relay_dkim_entry *relay_dkim_snapshot_find(const relay_dkim_snapshot *s,
                                                 const char *domain, enum dkim_algo algo);

/* Inserts a key; fills *id. 0, 1 when (domain, selector, algorithm)
 * exists, -1 on a database error. */
int relay_dkim_store_insert(db_conn *c, const char *domain, const char *selector,
                            const char *algorithm, const char *pem, const char *txt,
                            long long *id);

/* relay_sign.c: seals (forwarded or list mail) and signs msg in place
 * (msg->raw is replaced) with the active keys of the From domain, else of
 * the envelope sender's domain; records "dkim_signed"/"arc_sealed" events.
 * Returns 0 (also when there is nothing to sign or signing failed: the
 * message is then sent unchanged and the problem logged), -1 on a database
 * error (the job is retried). */
int relay_sign_message(struct relay_state *st, worker_job_ctx *ctx, spool_message *msg,
                       const char *mail_from);

/* relay_api_dkim.c */
int relay_api_dkim_register(service *svc, struct relay_state *st);

#endif
