/*
 * lists.h - the lists service's internal interfaces (not a libcommon
 * contract: only the .c files of services/lists and its unit tests include it).
 *
 * Modules:
 *   lists_addr.c        pure: address checks, -bounces/-request roles,
 *                       the address in a From header
 *   lists_text.c        pure: UTF-8 clean-up of header text for the database
 *   lists_headers.c     pure: List-* fields, Precedence, subject prefix on a
 *                       hdr_msg (byte-exact elsewhere)
 *   lists_store.c       the "lists" schema (lists, members, held)
 *   lists_distribute.c  a member post -> new spool message + relay/archive
 *                       jobs; a held post -> lists.held
 *   lists_job.c         the "lists" stage handler (posting policy)
 *   lists_verp.c        per-list VERP setting, per-member bounce counters
 *   lists_api*.c        the /v1 API
 *   lists_state.c       the state shared by the API and the worker
 */
#ifndef MAILYARD_LISTS_H
#define MAILYARD_LISTS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "buf.h"
#include "db.h"
#include "hdr.h"
#include "metrics.h"
#include "spool.h"
#include "worker.h"

struct service;
struct jobq;

#define LISTS_ADDR_MAX      256   /* RFC 5321 path limit */
#define LISTS_NAME_MAX      200
#define LISTS_DESC_MAX      2000
#define LISTS_PREFIX_MAX    100
#define LISTS_HELD_TEXT_MAX 998   /* subject / From kept for moderators */

/* ---- state (lists_state.c) ---- */

typedef struct lists_state {
    struct service   *svc;              /* borrowed: main's service */
    const char       *archive_url;      /* borrowed from svc->cfg */
    size_t            hdr_max_fields;
    size_t            hdr_max_field_len;
    metrics_family   *posts;            /* mailyard_lists_posts_total{outcome} */
    pthread_mutex_t   q_lock;           /* guards q */
    struct jobq      *q;                /* owned; API publishing, lazily made */
    struct dns_resolver *dns;           /* owned: DMARC policy look-ups (lists_dmarc.c) */
    const char       *encode_domain;    /* borrowed from svc->cfg, or NULL */
    long              bounce_disable_after; /* MAILYARD_LISTS_BOUNCE_DISABLE_AFTER, 0 = never */
} lists_state;

void lists_state_init(lists_state *st, struct service *svc);
void lists_state_release(lists_state *st);
/* Publishes l on the API's jobq (under q_lock); errors are logged only. */
void lists_state_publish(lists_state *st, db_conn *c, const spool_jobs *l);

/* ---- addresses (lists_addr.c, pure) ---- */

enum lists_role { LISTS_ROLE_POST = 0, LISTS_ROLE_BOUNCES, LISTS_ROLE_REQUEST };

/* Validates addr as a mailbox (local@domain, RFC 5321 syntax, no null
 * path) and writes its lower-case form into out. 0 or -1. */
int  lists_addr_normalize(const char *addr, char *out, size_t outlen);
/* Splits a normalized address at the last '@'. 0 or -1 (too long / no @). */
int  lists_addr_split(const char *addr, char *local, size_t locallen,
                      char *domain, size_t domainlen);
/* If addr's local part ends in "-bounces" or "-request", writes the list
 * address it belongs to into base and returns that role; otherwise copies
 * addr into base and returns LISTS_ROLE_POST. -1 if base is too small. */
int  lists_addr_role(const char *addr, char *base, size_t baselen);
/* Writes "<local>-<suffix>@<domain>" for list address addr. 0 or -1. */
int  lists_addr_with_suffix(const char *addr, const char *suffix,
                            char *out, size_t outlen);
/* The first mailbox of an RFC 5322 address list such as a From value
 * ("Name <a@b>", "a@b (c)", "\"x, y\" <a@b>"), lower-cased; NULL if none.
 * Caller frees. */
char *lists_addr_from_header(const char *value);


/* ---- headers (lists_headers.c, pure) ---- */

typedef struct lists_header_info {
    const char *address;         /* list post address, lower-case */
    const char *name;            /* display name, may be "" */
    const char *subject_prefix;  /* may be "" */
    const char *archive_url;     /* base URL without trailing slash */
} lists_header_info;

/* "Name <local.domain>" (RFC 2919) into out; the name is quoted or
 * RFC 2047-encoded as needed. 0 or -1. */
int    lists_headers_list_id(const char *address, const char *name, buf *out);
/* 1 when a List-Id field names this list (a post coming back to us). */
int    lists_headers_is_loop(const hdr_msg *m, const char *address);
/* Removes every List-* and Precedence field; returns how many. */
size_t lists_headers_strip(hdr_msg *m);
/* Prefixes the first Subject with prefix unless its unfolded value already
 * contains the prefix (trimmed, case-insensitive); adds a Subject when
 * there is none. The original value's bytes (folding, encoded words) are
 * kept after the prefix. 0 or -1. */
int    lists_headers_subject(hdr_msg *m, const char *prefix);
/* strip + List-Id, List-Post, List-Help, List-Unsubscribe, List-Archive,
 * Precedence: list (appended after the existing fields) + subject. */
int    lists_headers_apply(hdr_msg *m, const lists_header_info *info);

/* ---- store (lists_store.c) ---- */

typedef struct lists_list {
    int64_t id;
    char   *address;          /* owned */
    char   *name;             /* owned */
    char   *description;      /* owned */
    char   *subject_prefix;   /* owned */
    char   *policy;           /* owned: members | open | moderated */
    long    members_count;
    char   *dmarc_mitigation; /* owned: none | munge-from | wrap | encode-address */
    int     dmarc_always;     /* mitigate whatever the author's policy */
    int     verp;             /* -1 relay default, 0 off, 1 on (lists_verp.c) */
} lists_list;

void    lists_list_free(lists_list *l);
json_t *lists_list_to_json(const lists_list *l);
/* The SELECT list that lists_store_row_list() reads, for table alias l. */
#define LISTS_LIST_COLS \
    "l.id, l.address, l.name, l.description, l.subject_prefix, l.policy, " \
    "(SELECT count(*) FROM lists.members mc WHERE mc.list_id = l.id), " \
    "l.dmarc_mitigation, l.dmarc_mitigation_always, " \
    "coalesce(l.verp::int, -1)"
#define LISTS_LIST_NCOLS 10
lists_list *lists_store_row_list(const PGresult *r, int row, int col0);

/* Exact address. 1 found (*out owned by caller), 0 none, -1 error. */
int  lists_store_get(db_conn *c, const char *address, lists_list **out);
/* Exact address, else the list whose -bounces/-request address it is.
 * *role set accordingly. 1 / 0 / -1 as above. */
int  lists_store_resolve(db_conn *c, const char *address, lists_list **out,
                         int *role);
/* {"lists":[...]} or NULL on error. */
json_t *lists_store_all_json(db_conn *c);
/* 1 created, 0 address taken, -1 error. */
int  lists_store_create(db_conn *c, const lists_list *l);
/* 1 deleted, 0 none, -1 error. */
int  lists_store_delete(db_conn *c, const char *address);
/* Sets the DMARC mitigation of list id (mode already checked). 1 / 0 / -1. */
int  lists_store_set_dmarc(db_conn *c, int64_t id, const char *mode, int always);

/* {"members":[{"address","role","bounce_count","last_bounce_at"}]} or NULL
 * on error (last_bounce_at null when none). */
json_t *lists_store_members_json(db_conn *c, int64_t list_id);
/* 1 added, 0 already a member, -1 error. */
int  lists_store_member_add(db_conn *c, int64_t list_id, const char *address,
                            const char *role);
/* 1 removed, 0 not a member, -1 error. */
int  lists_store_member_remove(db_conn *c, int64_t list_id, const char *address);
/* 1 when any of the (lower-case, possibly NULL) addresses is a member. */
int  lists_store_is_member(db_conn *c, int64_t list_id, const char *a,
                           const char *b);
/* Member addresses in order; *out is an owned array of owned strings.
 * disable_after > 0 leaves out members with that many bounces or more. */
int  lists_store_member_addresses(db_conn *c, int64_t list_id, long disable_after,
                                  char ***out, size_t *n);
void lists_strv_free(char **v, size_t n);

/* Returns the new held id or -1. */
int64_t lists_store_held_insert(db_conn *c, int64_t list_id, int64_t message_id,
                                const char *mail_from, const char *from_header,
                                const char *subject, const char *reason);
/* {"held":[...]}; all states when all, else state held only. */
json_t *lists_store_held_json(db_conn *c, int64_t list_id, int all);
/* One held row as JSON (no lock), NULL if missing or on error. */
json_t *lists_store_held_one_json(db_conn *c, int64_t held_id);

/* ---- distribution (lists_distribute.c) ---- */

enum lists_result { LISTS_OK = 0, LISTS_ERR_DB = -1, LISTS_ERR_MESSAGE = -2 };

/* Inside the caller's transaction: builds the list copy of orig, inserts it
 * (origin "lists", parent orig, sender <lp>-bounces@<domain>, recipients =
 * every member), creates its relay and archive jobs (added to out) and
 * records "expanded" on orig. */
int  lists_distribute(lists_state *st, db_conn *c, const lists_list *l,
                      const spool_message *orig, int64_t job_id, spool_jobs *out);

/* ---- DMARC From mitigation (lists_dmarc.c) ---- */

/* Reads MAILYARD_DNS_SERVERS, MAILYARD_DNS_TIMEOUT_MS and
 * MAILYARD_DMARC_ENCODE_DOMAIN into st (a resolver that cannot be made is
 * logged; every policy then reads as a temporary failure: mitigated). */
void lists_dmarc_init(lists_state *st);
void lists_dmarc_release(lists_state *st);
/* Applies l's mitigation to m (the post being distributed) when the author
 * domain's policy asks for it, records the author of an encoded From and
 * a "dmarc_mitigated" event on orig. LISTS_OK (also when nothing was
 * needed or the From is unusable: sent as is), LISTS_ERR_DB. */
int  lists_dmarc_apply(lists_state *st, db_conn *c, const lists_list *l, hdr_msg *m,
                       const spool_message *orig, int64_t job_id);
/* PATCH /v1/lists/{addr} (lists_api_dmarc.c). */
int  lists_api_dmarc_register(struct service *svc, lists_state *st);
struct http_request;
struct http_response;
/* The optional "dmarc_mitigation" and "dmarc_mitigation_always" request
 * fields into *mode / *always (left as they are when absent). 0, or -1
 * after a 400 reply. */
int  lists_api_dmarc_fields(const struct http_request *req, struct http_response *resp,
                            const char **mode, int *always);

/* ---- VERP per list, member bounce counters (lists_verp.c) ---- */

/* The optional "verp" request field ("on", "off", "default") into *verp
 * (1, 0, -1; left as it is when absent). 0, or -1 after a 400 reply. */
int  lists_verp_field(const struct http_request *req, struct http_response *resp,
                      int *verp);
const char *lists_verp_name(int verp);              /* "on" / "off" / "default" */
/* Sets lists.verp of list id (-1 = NULL). 1 / 0 / -1. */
int  lists_store_set_verp(db_conn *c, int64_t id, int verp);
/* One more bounce for the member; *count is the new total. 1, 0 when not a
 * member, -1 on error. */
int  lists_store_member_bounce(db_conn *c, int64_t list_id, const char *address,
                               long *count);

/* ---- stage handler and API ---- */

enum worker_verdict lists_job_handle(void *arg, worker_job_ctx *ctx);
int  lists_api_register(struct service *svc, lists_state *st);

struct http_response;
/* API helpers (lists_api.c): a pooled connection or a 503 reply; its
 * release; and the list named by a path segment or a 404 reply. */
db_conn *lists_api_conn(lists_state *st, struct http_response *resp);
void     lists_api_release(lists_state *st, db_conn *c);
int      lists_api_find(db_conn *c, const char *param, struct http_response *resp,
                        lists_list **out);      /* 0 found, -1 replied */
void     lists_api_db_error(struct http_response *resp, db_conn *c);
int  lists_api_members_register(struct service *svc, lists_state *st);
int  lists_api_held_register(struct service *svc, lists_state *st);

#endif
