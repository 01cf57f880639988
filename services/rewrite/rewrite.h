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
#include "rewrite_dmarc.h"
#include "rewrite_lists.h"
#include "rewrite_plan.h"
#include "rewrite_secrets.h"
#include "service.h"
#include "worker.h"

typedef struct rewrite_state {
    service          *svc;             /* borrowed */
    rewrite_secrets  *secrets;         /* owned: SRS secrets (thread-safe) */
    char             *srs_domain;      /* owned, lower case, or NULL */
    rewrite_srs_conf  srs;             /* template: domain and max age; the
                                        * secrets come from a snapshot
                                        * (rewrite_state_srs) */
    char             *delimiters;      /* owned, or NULL: no +extension */
    char             *postmaster;      /* owned, or NULL: postmaster@ default */
    rewrite_lists    *lists;           /* owned */
    rewrite_plan_opts plan;
    long              max_alias_targets;  /* per alias through the API */
    long              max_page;           /* list page size ceiling */
    long              max_import;         /* entries per POST /v1/aliases:import */
    int               db_timeout_ms;
    char              reporting_mta[256];
    char              verp_delims[2];  /* MAILYARD_VERP_DELIMITERS (rewrite_verp.h) */
    metrics_family   *m_decisions;     /* mailyard_rewrite_decisions_total{event} */
    rewrite_dmarc     dmarc;           /* DMARC mitigation (rewrite_dmarc.h) */
} rewrite_state;

/* Reads the MAILYARD_* settings of rewrite (docs/rewrite.md). An
 * unreadable or empty SRS secrets file, when one is configured, is fatal
 * (exits). */
void rewrite_state_init(rewrite_state *st, service *svc);
void rewrite_state_release(rewrite_state *st);
/* Fills *out from st->srs and the current secrets snapshot, which the
 * caller gives back with rewrite_secrets_put(st->secrets, snap) once out is
 * no longer used. Returns the snapshot. */
const rewrite_secrets_snap *rewrite_state_srs(rewrite_state *st, rewrite_srs_conf *out);

/* The resolver over a database connection and the lists client, with the
 * state's policy (delimiters, postmaster). */
typedef struct rewrite_lookup {
    db_conn       *db;       /* borrowed */
    rewrite_lists *lists;    /* borrowed */
    const rewrite_state *st; /* borrowed: policy */
} rewrite_lookup;
void rewrite_resolver_init(rewrite_resolver *r, rewrite_lookup *lk);

/* rewrite_api.c */
int  rewrite_api_register(service *svc, rewrite_state *st);
/* rewrite_job.c: the worker handler of stage "rewrite" (arg: rewrite_state). */
enum worker_verdict rewrite_job_handle(void *arg, worker_job_ctx *ctx);

#endif
