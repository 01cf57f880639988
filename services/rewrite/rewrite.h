/*
 * rewrite.h - the rewrite service's state and its two entry points, the
 * API (rewrite_api.c) and the job handler (rewrite_job.c); main.c wires
 * them to the service skeleton.
 *
 * rewrite_state holds the configuration read at start-up (SRS secrets and
 * domain, limits, the lists client). It is created in main's frame, filled
 * by rewrite_state_init() and released by rewrite_state_release(); after
 * init it is read-only (the lists client inside is thread-safe), so API
 * threads and worker threads share it.
 */
#ifndef MAILYARD_REWRITE_H
#define MAILYARD_REWRITE_H

#include <stddef.h>

#include "db.h"
#include "rewrite_classify.h"
#include "rewrite_lists.h"
#include "rewrite_plan.h"
#include "service.h"
#include "worker.h"

#define REWRITE_MAX_SECRETS 32

typedef struct rewrite_state {
    service          *svc;             /* borrowed */
    char             *secrets[REWRITE_MAX_SECRETS]; /* owned, wiped on release */
    size_t            nsecrets;
    char             *srs_domain;      /* owned, lower case, or NULL */
    rewrite_srs_conf  srs;             /* points into secrets/srs_domain */
    rewrite_lists    *lists;           /* owned */
    rewrite_plan_opts plan;
    long              max_alias_targets;  /* per alias through the API */
    long              max_page;           /* list page size ceiling */
    int               db_timeout_ms;
    char              reporting_mta[256];
    metrics_family   *m_decisions;     /* mailyard_rewrite_decisions_total{event} */
} rewrite_state;

/* Reads the MAILYARD_* settings of rewrite (docs/rewrite.md). A missing or
 * empty SRS secrets file is fatal (exits). */
void rewrite_state_init(rewrite_state *st, service *svc);
void rewrite_state_release(rewrite_state *st);

/* The resolver over a database connection and the lists client. */
typedef struct rewrite_lookup {
    db_conn       *db;       /* borrowed */
    rewrite_lists *lists;    /* borrowed */
} rewrite_lookup;
void rewrite_resolver_init(rewrite_resolver *r, rewrite_lookup *lk);

/* rewrite_api.c */
int  rewrite_api_register(service *svc, rewrite_state *st);
/* rewrite_job.c: the worker handler of stage "rewrite" (arg: rewrite_state). */
enum worker_verdict rewrite_job_handle(void *arg, worker_job_ctx *ctx);

#endif
