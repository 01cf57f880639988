/*
 * relay.h - the relay service's shared state and its modules' entry points:
 * configuration (relay_state.c), transports (relay_transport.c), the
 * relay.deliveries table (relay_db.c), delay warnings (relay_warn.c,
 * relay_db_warn.c), the job handler (relay_job.c) and the admin API
 * (relay_api.c). The transport map, the connection cache and MTA-STS have
 * their own headers (relay_tmap.h, relay_conn.h, relay_mtasts.h).
 *
 * Ownership: main owns one relay_state (on its stack), fills it with
 * relay_state_init() and releases it with relay_state_free() after
 * service_run() returned. Worker threads and API handlers borrow it; what
 * they change is only atomic (the maildir counter) or thread-safe (the
 * metrics, the unbound context, the connection pool, the MTA-STS cache).
 */
#ifndef MAILYARD_RELAY_H
#define MAILYARD_RELAY_H

#include "dns.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "db.h"
#include "metrics.h"
#include "relay_smtp.h"
#include "service.h"
#include "spool.h"
#include "worker.h"

struct relay_tmap;
struct relay_conn_pool;
struct relay_mtasts;
struct relay_dpol;

enum relay_transport_kind { RELAY_TRANSPORT_MX, RELAY_TRANSPORT_SMARTHOST,
                            RELAY_TRANSPORT_MAILDIR };

typedef struct relay_state {
    enum relay_transport_kind transport;
    char            hostname[256];       /* MAILYARD_HOSTNAME or gethostname() */
    char            helo[256];           /* MAILYARD_RELAY_HELO, default hostname */
    char            smarthost[256];      /* host part of MAILYARD_RELAY_SMARTHOST */
    int             smarthost_port;
    const char     *maildir;             /* MAILYARD_RELAY_MAILDIR (config-owned) */
    int             smtp_port;           /* MAILYARD_RELAY_SMTP_PORT */
    int             timeout_s;           /* MAILYARD_RELAY_TIMEOUT_SECONDS */
    long            retry_base;          /* MAILYARD_RELAY_RETRY_BASE_SECONDS */
    long            retry_max;           /* MAILYARD_RELAY_RETRY_MAX_SECONDS */
    long            max_age;             /* MAILYARD_RELAY_MAX_AGE_SECONDS */
    long            delay_warning;       /* MAILYARD_RELAY_DELAY_WARNING_SECONDS, 0 = off */
    enum relay_tls_mode tls_mode;        /* MAILYARD_RELAY_TLS */
    const char     *ca_file;             /* MAILYARD_RELAY_CA_FILE (config-owned) or NULL */
    dns_resolver   *dns;                 /* owned; NULL unless mx is used */
    struct relay_tmap *tmap;             /* owned; MAILYARD_RELAY_TRANSPORT_MAP_FILE or NULL */
    struct relay_conn_pool *conns;       /* owned; idle sessions, destination slots */
    struct relay_mtasts *mtasts;         /* owned; MTA-STS policy cache, NULL when off */
    struct relay_dkim_cache *dkim;       /* owned; active DKIM keys (relay_dkim_store.c) */
    int             tlsrpt_on;           /* MAILYARD_RELAY_TLSRPT (relay_tlsrpt.h) */
    char            tlsrpt_org[256];     /* MAILYARD_RELAY_TLSRPT_ORG, default hostname */
    char            tlsrpt_contact[256]; /* MAILYARD_RELAY_TLSRPT_CONTACT */
    char            tlsrpt_from[256];    /* MAILYARD_RELAY_TLSRPT_FROM */
    struct relay_tlsrpt_sched *tlsrpt;   /* owned; the daily sender or NULL */
    struct relay_dkim_files *dkim_files; /* owned; MAILYARD_RELAY_DKIM_KEY_DIR or NULL */
    struct relay_dpol *dpol;             /* owned; MAILYARD_RELAY_DOMAIN_POLICY (relay_dpol.h) */
    int             verp;                /* MAILYARD_RELAY_VERP (relay_verp.h) */
    char            verp_delims[2];      /* MAILYARD_VERP_DELIMITERS, default "+=" */
    atomic_ulong    maildir_counter;
    db_pool        *db;                  /* borrowed from the service */
    metrics_family *m_deliveries;        /* mailyard_relay_deliveries_total{result} */
    metrics_family *m_attempt_seconds;   /* mailyard_relay_attempt_seconds */
} relay_state;

/* relay_state.c: reads the MAILYARD_RELAY_* settings, creates the resolver
 * and the maildir, registers metrics. 0, or -1 after logging why. */
int  relay_state_init(relay_state *st, service *svc);
void relay_state_free(relay_state *st);

/* relay_transport.c: the outcome of one delivery attempt for a recipient. */
typedef struct relay_outcome {
    int  code;                        /* 2xx delivered, 4xx deferred, 5xx bounced */
    char status[16];                  /* enhanced status code, always set */
    char reply[RELAY_SMTP_REPLY_MAX]; /* remote reply or our explanation */
    char host[320];                   /* "mx.example[192.0.2.1]:25", "maildir:/x" or "" */
    char tls[128];                    /* TLS version and cipher, or "" */
    char tls_verify[160];             /* "verified", "not verified: why", or "" */
    char dane[160];                   /* relay_dane.h: "verified (...)", "failed: why", or "" */
    int  dsn_passed;                  /* the next hop took NOTIFY/ORCPT (announced DSN) */
    int  mailbox;                     /* final delivery: LMTP or Maildir */
    long wait_s;                      /* > 0: not tried, waits this long (rate limit);
                                         reply says why */
} relay_outcome;

/* Attempts delivery of msg to rcpts (all in domain) with the configured
 * transport; fills out[0..n). Never fails as a whole: problems become 4xx
 * or 5xx outcomes. */
void relay_transport_deliver(relay_state *st, int thread_no, const spool_message *msg,
                             const char *mail_from, const char *domain,
                             const char *const *rcpts, size_t n, relay_outcome *out);
/* The same with RFC 3461 parameters for the next hop (arrays parallel to
 * rcpts, relay_smtp.h); dsn may be NULL. */
void relay_transport_deliver_dsn(relay_state *st, int thread_no, const spool_message *msg,
                                 const char *mail_from, const char *domain,
                                 const char *const *rcpts, const relay_smtp_dsn *dsn,
                                 size_t n, relay_outcome *out);

/* relay_db.c: relay.deliveries. */
typedef struct relay_row {
    int64_t id;
    char   *rcpt;        /* owned */
    int     attempts;
    int     expired;     /* older than max_age */
    char   *last_reply;  /* owned; NULL before the first failed attempt */
} relay_row;

/* The job's due pending rows, locked; *rows owned by caller
 * (relay_db_rows_free). *total: all the job's rows (0: never attempted);
 * *unloaded_open: its other open rows (not due, or held). Returns the
 * count or -1. */
int  relay_db_load_due(db_conn *c, int64_t job_id, long max_age, relay_row **rows,
                       long *unloaded_open, long *total);
/* In-memory rows (id 0) for a job never attempted: one per distinct
 * recipient, in payload order; *rows owned by caller. Returns the count. */
int  relay_db_new_rows(const char *const *rcpts, size_t n, relay_row **rows);
/* Inserts such a row with its first outcome (state, attempts, delay and o
 * as relay_db_record; o NULL and event NULL: a plain pending row, no
 * attempt, no event) and sets row->id. 0 or -1. */
int  relay_db_insert_row(db_conn *c, const spool_job *job, const spool_message *msg,
                         const char *mail_from, relay_row *row, const char *state,
                         int attempts, long delay, long max_age, const relay_outcome *o,
                         const char *event, const json_t *detail);
void relay_db_rows_free(relay_row *rows, size_t n);
/* relay_db_wait.c: leaves a pending row untried for wait_s seconds (its
 * destination's rate limit) with the reason; attempts and last reply stay. */
int  relay_db_wait(db_conn *c, int64_t id, long wait_s, long max_age, const char *reason);
/* Counts the job's pending rows and their earliest next_attempt_at. */
int  relay_db_job_pending(db_conn *c, int64_t job_id, long *npending, time_t *earliest);

/* relay_db_warn.c: the pending rows of the job deferred for at least
 * `after` seconds (attempts > 0) and never warned; marks them warned.
 * *rows and *hosts (last_host or "", one per row) are owned by the caller
 * (relay_db_rows_free, relay_db_warn_hosts_free). *since (owned by the
 * caller, free()) holds each row's created_at, the start of its give-up age.
 * Returns the count or -1. */
int  relay_db_warn_due(db_conn *c, int64_t job_id, long after, relay_row **rows,
                       char ***hosts, time_t **since);
void relay_db_warn_hosts_free(char **hosts, size_t n);

/* relay_warn.c: queues the delay warning DSN for the job's recipients that
 * are due one (see relay_db_warn_due). Returns the number of recipients
 * warned (0 when none or disabled) or -1 on a database error. */
int  relay_warn_queue(relay_state *st, worker_job_ctx *ctx, const spool_message *msg,
                      const char *mail_from);

/* relay_job.c: the "relay" stage handler (worker.h). arg is relay_state. */
enum worker_verdict relay_job_handle(void *arg, worker_job_ctx *ctx);

/* relay_api.c: GET /v1/queue and /v1/queue/{queue_id}. */
int  relay_api_register(service *svc, relay_state *st);

#endif
