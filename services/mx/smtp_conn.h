/*
 * smtp_conn.h - the structures mx's SMTP server shares between its parts:
 * the server (configured in smtp_server.c, which also holds the session
 * callbacks), its listener table, and one connection (driven by the event
 * loop in smtp_loop.c / smtp_conn.c, its session fed on a worker thread of
 * smtp_workers.c).
 *
 * Threads: the loop thread owns every socket, bufferevent and SSL. A
 * connection's session, httpc and pending jobs are touched by one thread
 * at a time: by a worker while c->busy (a job is queued or running; the
 * loop does not read for the connection then), by the loop otherwise. The
 * hand-over goes through the pool's and the loop's mutexes.
 *
 * Ownership: the server owns the listeners, the loop, the pool and the
 * shared tables; a connection is owned by the loop (smtp_conn_free).
 */
#ifndef MAILYARD_SMTP_CONN_H
#define MAILYARD_SMTP_CONN_H

#include <stdatomic.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <openssl/ssl.h>
#include "metrics.h"
#include "service.h"
#include "spool.h"
#include "rcpt_check.h"
#include "smtp_cidr.h"
#include "smtp_commit.h"
#include "smtp_dnsbl.h"
#include "smtp_iplimit.h"
#include "smtp_nuisance.h"
#include "smtp_session.h"
#include "smtp_submit.h"
#include "smtp_tls.h"
#include "smtp_workers.h"
#include "smtp_server.h"

#define SMTP_MAX_LISTENERS 4

struct smtp_loop;
struct bufferevent;
struct event;

/* One listening socket and its policy. */
typedef struct smtp_listener {
    int         fd;                      /* owned */
    const char *name;                    /* "smtp", "smtps", "submission" (static) */
    int         implicit_tls;            /* RFC 8314: TLS from the first byte */
    unsigned    proxy;                   /* PROXY_ACCEPT_* mask; 0: off */
    const smtp_session_cfg *policy;      /* borrowed (server-owned) */
} smtp_listener;

struct smtp_server {
    service         *svc;                /* borrowed */
    smtp_listener    lst[SMTP_MAX_LISTENERS];
    size_t           nlst;
    struct smtp_loop *loop;              /* owned */
    smtp_workers    *workers;            /* owned */
    int              nworkers;
    db_pool         *commit_db;          /* owned: the workers' commits and publications */
    int              ndb_conns;
    smtp_tls_store  *tls;                /* owned, NULL without a certificate */
    smtp_cidr_list  *proxy_trusted;      /* owned */
    int              pregreet_ms;
    int              data_timeout_s;
    smtp_iplimit    *per_ip;             /* owned */
    rcpt_cache      *cache;              /* owned */
    smtp_dnsbl      *dnsbl;              /* owned, NULL without zones */
    smtp_nuisance   *nuisance;           /* owned: block rules, rate limits */
    smtp_submit     *submit;             /* owned: credentials, grants, certificates */
    smtp_session_cfg scfg;               /* the MX policy */
    smtp_session_cfg scfg_sub;           /* the SUBMISSION policy (smtp_submit.h) */
    smtp_commit_env  cenv;
    char             hostname[256];
    const char      *rewrite_url;        /* owned by svc->cfg */
    int              timeout_s, drain_s;
    long             max_conns;
    atomic_ulong     seq;
    metrics_family  *m_conns_total, *m_conns, *m_replies;
    metrics_family  *m_tls, *m_commands, *m_rejections, *m_bytes;
};

/* Where a connection is; see smtp_conn.c. */
enum smtp_conn_phase {
    SMTP_CONN_PROXY = 0,                 /* reading the PROXY header */
    SMTP_CONN_PREGREET,                  /* waiting pregreet_ms for silence */
    SMTP_CONN_HANDSHAKE,                 /* TLS handshake (implicit or STARTTLS) */
    SMTP_CONN_SESSION,                   /* SMTP */
    SMTP_CONN_STARTTLS,                  /* writing the 220 of STARTTLS */
    SMTP_CONN_CLOSING,                   /* writing the last replies */
};

/* What a worker does for a busy connection: feed the session, publish
 * committed jobs, run the connection checks before the greeting (ADMIT),
 * or look at the client certificate after STARTTLS (TLS). */
enum smtp_conn_job { SMTP_JOB_FEED = 0, SMTP_JOB_PUBLISH, SMTP_JOB_ADMIT, SMTP_JOB_TLS };

typedef struct smtp_conn smtp_conn;
struct smtp_conn {
    smtp_work     work;                  /* first: the worker job node */
    smtp_server  *srv;                   /* borrowed */
    const smtp_listener *lst;            /* borrowed */
    int           fd;                    /* owned until a TLS bufferevent takes it */
    struct bufferevent *bev;             /* owned, loop thread only */
    struct event *ev;                    /* owned: PROXY/pregreet waits */
    SSL          *ssl;                   /* borrowed from bev; NULL in plaintext */
    char          ip[INET6_ADDRSTRLEN];  /* the client (proxied if PROXY) */
    char          peer[INET6_ADDRSTRLEN];/* the socket's peer */
    int           ip_counted;            /* counted in srv->per_ip */
    smtp_session *sess;                  /* owned */
    httpc        *http;                  /* the running worker's, during a feed */
    spool_jobs    pending;               /* committed, to publish after the reply */
    unsigned long no;
    int           dnsbl_done;            /* the DNSBL check ran (once) */
    int           dnsbl_listed;
    char          dnsbl_zones[160];      /* the zones that list c->ip */
    /* event loop state */
    enum smtp_conn_phase phase;
    int           busy;                  /* a worker job is queued or running */
    int           dead;                  /* the socket failed while busy */
    enum smtp_conn_job job;
    enum smtp_action act;                /* the last feed's answer */
    char         *rbuf;                  /* owned while a feed job runs */
    size_t        rlen;
    const char   *why;                   /* static: why the connection ends */
    smtp_conn    *prev, *next;           /* the loop's list */
    smtp_conn    *done_next;             /* the loop's finished-jobs list */
};

/* smtp_server.c, on a worker thread. admit: the checks before the greeting
 * (block rules, connection rate; smtp_nuisance.h); on a refusal the
 * session's queued 220 is replaced by the refusal and the session is
 * closed; then, with TLS up already (implicit TLS), the client certificate.
 * tls: on a submission listener a registered client certificate
 * authenticates the session (smtp_submit.h). */
void smtp_server_conn_admit(smtp_conn *c);
void smtp_server_conn_tls(smtp_conn *c);

#endif
