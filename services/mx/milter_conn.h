/*
 * milter_conn.h - the state shared by milter_server.c (libmilter wiring,
 * connection callbacks) and milter_eom.c (the end-of-message decision):
 * the server (configuration, shared checkers, metrics) and one MTA
 * connection. Private to milter mode; see milter_server.h.
 *
 * Ownership: the server owns cenv.auth, dnsbl and cache. A connection is
 * created by the first callback of an MTA connection (negotiate or
 * connect), stored with smfi_setpriv, and freed by the close callback; it
 * owns its message, httpc client and jobq.
 */
#ifndef MAILYARD_MILTER_CONN_H
#define MAILYARD_MILTER_CONN_H

#include <pthread.h>
#include <stdatomic.h>
#include <libmilter/mfapi.h>
#include "httpc.h"
#include "jobq.h"
#include "metrics.h"
#include "service.h"
#include "milter_msg.h"
#include "rcpt_check.h"
#include "smtp_commit.h"
#include "smtp_dnsbl.h"

typedef struct milter_server milter_server;

struct milter_server {
    service         *svc;                /* borrowed */
    smtp_commit_env  cenv;               /* cenv.auth owned; NULL: auth off */
    smtp_dnsbl      *dnsbl;              /* owned, NULL without zones */
    rcpt_cache      *cache;              /* owned (handoff mode) */
    int              handoff;            /* MAILYARD_MILTER_HANDOFF=on */
    size_t           max_size, max_rcpts;
    char             hostname[256];
    char             socket_spec[512];
    const char      *rewrite_url;        /* owned by svc->cfg */
    int              drain_s;
    pthread_t        thread;             /* runs smfi_main */
    atomic_int       stopping;           /* milter_server_stop was called */
    atomic_int       main_done;          /* smfi_main returned */
    pthread_mutex_t  lock;               /* protects nconns */
    pthread_cond_t   cond;
    long             nconns;
    atomic_ulong     seq;
    metrics_family  *m_conns_total, *m_conns, *m_replies, *m_rejections;
    metrics_family  *m_verdicts;         /* mailyard_milter_verdicts_total */
};

typedef struct milter_conn {
    struct milter_server *srv;           /* borrowed */
    unsigned long no;
    int           counted;               /* counted in srv->nconns */
    int           leadspc;               /* SMFIP_HDR_LEADSPC was agreed */
    char          ip[64];                /* the SMTP client of the MTA */
    char          helo[256];
    int           dnsbl_done, dnsbl_listed;
    char          dnsbl_zones[160];
    milter_msg   *msg;                   /* owned; NULL outside MAIL..end */
    httpc        *http;                  /* owned, lazily (handoff RCPT checks) */
    jobq         *q;                     /* owned, lazily (handoff publish) */
} milter_conn;

/* The end of a message: authentication, policy, header edits or hand-off.
 * Returns the libmilter verdict (reply set with smfi_setreply when it is a
 * refusal). */
sfsistat milter_eom_run(SMFICTX *ctx, milter_conn *c);
/* Sets the SMTP reply and counts it ("550", "5.7.1 text...", reason). */
void     milter_conn_refuse(SMFICTX *ctx, milter_conn *c, const char *code,
                            const char *xcode, const char *text, const char *reason);

#endif
