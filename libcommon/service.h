/*
 * service.h - the skeleton every Mailyard daemon runs on, so that a
 * service's main.c reads like a table of contents:
 *
 *     int main(int argc, char **argv) {
 *         service svc;
 *         if (service_init(&svc, "rewrite", "127.0.0.1:9102", argc, argv) != 0)
 *             return 1;
 *         rewrite_state st; ... rewrite_api_register(&svc, &st);
 *         service_add_worker(&svc, "rewrite", rewrite_job_handle, &st);
 *         int rc = service_run(&svc);     // blocks until SIGTERM
 *         ... free st ...
 *         service_cleanup(&svc);
 *         return rc;
 *     }
 *
 * service_init(): log_init, config_load, shutdown_install, the admin token
 * (MAILYARD_ADMIN_TOKEN_FILE, required), the database pool
 * (MAILYARD_PG_DSN, MAILYARD_DB_POOL_SIZE), the metrics registry, and the
 * HTTP server (MAILYARD_HTTP_LISTEN, default given by the caller) with
 * /readyz wired to "PostgreSQL and Redis answer". Options: --version,
 * --help; anything else is an error.
 *
 * service_run(): starts the HTTP server and every worker pool, waits for
 * SIGTERM/SIGINT, then stops the HTTP server (no new requests), stops the
 * worker pools (finish or hand back in-flight jobs), and returns 0; or 1 if
 * start-up failed.
 *
 * Ownership: the service struct lives in main's frame and owns everything
 * it points to; service_cleanup() frees it.
 */
#ifndef MAILYARD_SERVICE_H
#define MAILYARD_SERVICE_H

#include "config.h"
#include "db.h"
#include "http.h"
#include "metrics.h"
#include "shutdown.h"
#include "worker.h"

#define SERVICE_MAX_WORKERS 4

typedef struct service {
    const char       *name;          /* "mx", "rewrite", ... (static) */
    config           *cfg;
    shutdown_state    shutdown;
    char             *admin_token;   /* secret, wiped on cleanup */
    char             *redis_password;/* secret or NULL */
    const char       *redis_url;     /* from cfg */
    db_pool          *db;
    metrics_registry *metrics;
    http_server      *http;
    worker_opts       worker_opts[SERVICE_MAX_WORKERS];
    worker_pool      *workers[SERVICE_MAX_WORKERS];
    int               nworkers;
    struct service_priv *priv;       /* owned: consumer name, /readyz Redis handle */
} service;

int  service_init(service *svc, const char *name, const char *default_listen,
                  int argc, char **argv);
/* Registers a consumer of stage; threads from MAILYARD_WORKER_THREADS
 * (default 2), timings from MAILYARD_JOB_* (see docs/configuration.md). */
int  service_add_worker(service *svc, const char *stage, worker_handler h, void *arg);
/* The same with the stage's own default thread count (network-bound stages
 * such as relay want more than 2) and batch size (MAILYARD_JOB_BATCH: jobs
 * per transaction, worker.h; 1 for the other stages). Unless
 * MAILYARD_DB_POOL_SIZE is set, the
 * database pool grows to the threads of every pool plus
 * SERVICE_DB_POOL_SPARE (sweepers, HTTP handlers, per-job side
 * connections), so threads do not queue for a connection. */
#define SERVICE_DB_POOL_SPARE 4
int  service_add_worker_n(service *svc, const char *stage, worker_handler h, void *arg,
                          int default_threads, int default_batch);
int  service_run(service *svc);
void service_cleanup(service *svc);
/* A per-thread Redis handle for code outside the worker loop that needs to
 * publish (e.g. an API handler); caller frees with jobq_free(). */
struct jobq *service_jobq(service *svc, const char *consumer_suffix);

#endif
