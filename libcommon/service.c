/*
 * service.c - the daemon skeleton every Mailyard service's main() runs on
 * (see service.h): options, configuration, logging, signals, secrets, the
 * database pool, metrics, the HTTP server with /readyz, the worker pools,
 * and an orderly shutdown.
 *
 * Owns: everything the service struct points to (freed by
 * service_cleanup()), including the private part (struct service_priv): the
 * consumer base name "<service>-<hostname>-<pid>" and the Redis handle that
 * /readyz PINGs, guarded by a mutex because HTTP threads call it.
 *
 * Configuration read here (environment > MAILYARD_CONFIG_FILE > default):
 * MAILYARD_PG_DSN, MAILYARD_REDIS_URL, MAILYARD_REDIS_PASSWORD_FILE,
 * MAILYARD_ADMIN_TOKEN_FILE (required), MAILYARD_HTTP_LISTEN,
 * MAILYARD_DB_POOL_SIZE, MAILYARD_WORKER_THREADS, MAILYARD_JOB_BLOCK_MS,
 * MAILYARD_JOB_CLAIM_IDLE_MS, MAILYARD_SWEEP_MS, MAILYARD_JOB_STUCK_SECONDS,
 * MAILYARD_JOB_BATCH, MAILYARD_LOG_LEVEL, MAILYARD_HOSTNAME.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobq.h"
#include "log.h"
#include "service.h"
#include "trace_api.h"
#include "xalloc.h"

#ifndef MAILYARD_VERSION
#define MAILYARD_VERSION "0.1.0"
#endif


struct service_priv {
    char            consumer[256];  /* "<service>-<hostname>-<pid>" */
    pthread_mutex_t ready_mu;       /* guards ready_q */
    jobq           *ready_q;        /* owned; PINGed by /readyz */
};

static int  service_ready(void *arg);
static void service_usage(FILE *fp, const char *name);
static long service_long(const service *svc, const char *key, long def, long min, long max);

int service_init(service *svc, const char *name, const char *default_listen,
                 int argc, char **argv)
{
    memset(svc, 0, sizeof(*svc));
    svc->name = name;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--version") == 0) {
            printf("mailyard-%s %s\n", name, MAILYARD_VERSION);
            exit(0);
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            service_usage(stdout, name);
            exit(0);
        }
        fprintf(stderr, "mailyard-%s: unknown argument '%s'\n", name, argv[i]);
        service_usage(stderr, name);
        return -1;
    }

    char err[512];
    svc->cfg = config_load(err, sizeof(err));
    if (svc->cfg == NULL) {
        log_init(name, "info");
        log_error("cannot load the configuration", "error", err);
        return -1;
    }
    log_init(name, config_get(svc->cfg, "MAILYARD_LOG_LEVEL", "info"));
    if (shutdown_install(&svc->shutdown) != 0)
        fatal("cannot install the signal handlers");

    svc->admin_token = config_secret(svc->cfg, "MAILYARD_ADMIN_TOKEN_FILE", err, sizeof(err));
    if (svc->admin_token == NULL || svc->admin_token[0] == '\0')
        fatal("MAILYARD_ADMIN_TOKEN_FILE must name a readable, non-empty file",
              "error", svc->admin_token == NULL ? err : "empty token");
    const char *pwfile = config_get(svc->cfg, "MAILYARD_REDIS_PASSWORD_FILE", NULL);
    if (pwfile != NULL && pwfile[0] != '\0') {
        svc->redis_password = config_secret(svc->cfg, "MAILYARD_REDIS_PASSWORD_FILE",
                                            err, sizeof(err));
        if (svc->redis_password == NULL)
            fatal("cannot read MAILYARD_REDIS_PASSWORD_FILE", "error", err);
    }
    svc->redis_url = config_get(svc->cfg, "MAILYARD_REDIS_URL", CONFIG_DEFAULT_REDIS_URL);

    struct service_priv *pv = xcalloc(1, sizeof(*pv));
    svc->priv = pv;
    if (pthread_mutex_init(&pv->ready_mu, NULL) != 0)
        abort();
    char host[256];
    const char *h = config_get(svc->cfg, "MAILYARD_HOSTNAME", NULL);
    if (h == NULL || h[0] == '\0') {
        if (gethostname(host, sizeof(host)) != 0)
            (void)str_copy(host, sizeof(host), "localhost");
        host[sizeof(host) - 1] = '\0';
        h = host;
    }
    (void)snprintf(pv->consumer, sizeof(pv->consumer), "%.64s-%.128s-%ld", name, h, (long)getpid());
    char rc[300];
    (void)snprintf(rc, sizeof(rc), "%s-ready", pv->consumer);
    pv->ready_q = jobq_create(svc->redis_url, svc->redis_password, rc);
    if (pv->ready_q == NULL)
        fatal("MAILYARD_REDIS_URL is malformed (want redis://[:password@]host:port[/db])");

    const char *dsn = config_get(svc->cfg, "MAILYARD_PG_DSN", CONFIG_DEFAULT_PG_DSN);
    svc->db = db_pool_create(dsn, (int)service_long(svc, "MAILYARD_DB_POOL_SIZE", 8, 1, 1000));
    svc->metrics = metrics_registry_create();

    const char *listen = config_get(svc->cfg, "MAILYARD_HTTP_LISTEN", default_listen);
    http_server_opts ho = {
        .listen = listen, .admin_token = svc->admin_token, .metrics = svc->metrics,
        .ready = service_ready, .ready_arg = svc,
    };
    svc->http = http_server_create(&ho);
    if (svc->http == NULL)
        fatal("cannot create the HTTP server", "listen", listen);
    if (trace_api_register(svc) != 0)          /* GET /v1/trace/{id} everywhere */
        fatal("cannot register the trace route");
    return 0;
}

int service_add_worker(service *svc, const char *stage, worker_handler h, void *arg)
{
    return service_add_worker_n(svc, stage, h, arg, 2, 1);
}

int service_add_worker_n(service *svc, const char *stage, worker_handler h, void *arg,
                         int default_threads, int default_batch)
{
    if (default_threads < 1 || default_threads > 256)
        panic("service_add_worker_n: default_threads out of range");
    if (default_batch < 1 || default_batch > 64)
        panic("service_add_worker_n: default_batch out of range");
    if (svc->nworkers >= SERVICE_MAX_WORKERS)
        panic("service_add_worker: too many worker pools");
    worker_opts *o = &svc->worker_opts[svc->nworkers++];
    *o = (worker_opts){
        .stage = stage,
        .threads = (int)service_long(svc, "MAILYARD_WORKER_THREADS", default_threads, 1, 256),
        .db = svc->db,
        .redis_url = svc->redis_url,
        .redis_password = svc->redis_password,
        .consumer = svc->priv->consumer,
        .block_ms = (int)service_long(svc, "MAILYARD_JOB_BLOCK_MS", 1000, 1, 60000),
        .claim_idle_ms = service_long(svc, "MAILYARD_JOB_CLAIM_IDLE_MS", 60000, 1, 86400000L),
        .sweep_ms = (int)service_long(svc, "MAILYARD_SWEEP_MS", 2000, 10, 3600000),
        .stuck_seconds = (int)service_long(svc, "MAILYARD_JOB_STUCK_SECONDS", 300, 1, 86400),
        .batch_max = (int)service_long(svc, "MAILYARD_JOB_BATCH", default_batch, 1, 64),
        .handler = h,
        .handler_arg = arg,
        .shutdown = &svc->shutdown,
        .metrics = svc->metrics,
    };
    if (config_get(svc->cfg, "MAILYARD_DB_POOL_SIZE", NULL) == NULL) {
        int want = SERVICE_DB_POOL_SPARE;
        for (int i = 0; i < svc->nworkers; i++)
            want += svc->worker_opts[i].threads;
        if (want > db_pool_size(svc->db) && db_pool_grow(svc->db, want) != 0)
            log_warn("cannot grow the database pool while it is in use",
                     "stage", stage);
    }
    return 0;
}

int service_run(service *svc)
{
    char err[512];
    if (http_server_start(svc->http, err, sizeof(err)) != 0)
        fatal("cannot start the HTTP server", "error", err);
    for (int i = 0; i < svc->nworkers; i++) {
        svc->workers[i] = worker_pool_start(&svc->worker_opts[i], err, sizeof(err));
        if (svc->workers[i] == NULL) {
            log_error("cannot start a worker pool", "stage", svc->worker_opts[i].stage,
                      "error", err);
            for (int k = 0; k < i; k++) {
                worker_pool_stop(svc->workers[k]);
                svc->workers[k] = NULL;
            }
            http_server_stop(svc->http);
            svc->http = NULL;
            return 1;
        }
    }
    log_info("started", "version", MAILYARD_VERSION, "consumer", svc->priv->consumer);

    while (!shutdown_requested(&svc->shutdown)) {
        struct pollfd pfd = { .fd = svc->shutdown.pipe_rd, .events = POLLIN };
        int n = poll(&pfd, 1, 1000);
        if (n < 0 && errno != EINTR)
            fatal("poll on the shutdown pipe failed", "error", strerror(errno));
    }

    log_info("stopping");
    http_server_stop(svc->http);              /* no new requests */
    svc->http = NULL;
    for (int i = 0; i < svc->nworkers; i++) {  /* finish or hand back jobs */
        worker_pool_stop(svc->workers[i]);
        svc->workers[i] = NULL;
    }
    log_info("stopped");
    return 0;
}

void service_cleanup(service *svc)
{
    for (int i = 0; i < svc->nworkers; i++) {
        worker_pool_stop(svc->workers[i]);
        svc->workers[i] = NULL;
    }
    http_server_stop(svc->http);
    svc->http = NULL;
    if (svc->priv != NULL) {
        jobq_free(svc->priv->ready_q);
        pthread_mutex_destroy(&svc->priv->ready_mu);
        free(svc->priv);
        svc->priv = NULL;
    }
    db_pool_free(svc->db);
    svc->db = NULL;
    metrics_registry_free(svc->metrics);
    svc->metrics = NULL;
    if (svc->admin_token != NULL)
        config_secret_free(svc->admin_token);
    svc->admin_token = NULL;
    if (svc->redis_password != NULL)
        config_secret_free(svc->redis_password);
    svc->redis_password = NULL;
    svc->redis_url = NULL;
    config_free(svc->cfg);
    svc->cfg = NULL;
}

struct jobq *service_jobq(service *svc, const char *consumer_suffix)
{
    char consumer[320];
    (void)snprintf(consumer, sizeof(consumer), "%s-%s", svc->priv->consumer,
                   consumer_suffix ? consumer_suffix : "api");
    return jobq_create(svc->redis_url, svc->redis_password, consumer);
}

/* ---- internals ---- */

/* /readyz: PostgreSQL and Redis answer. Called from HTTP threads. */
static int service_ready(void *arg)
{
    service *svc = arg;
    if (!db_pool_ping(svc->db))
        return 0;
    pthread_mutex_lock(&svc->priv->ready_mu);
    int ok = jobq_ping(svc->priv->ready_q) == 0;
    pthread_mutex_unlock(&svc->priv->ready_mu);
    return ok;
}

static long service_long(const service *svc, const char *key, long def, long min, long max)
{
    long v = config_get_long(svc->cfg, key, def);
    if (v < min || v > max) {
        char a[24];
        (void)snprintf(a, sizeof(a), "%ld", def);
        log_warn("configuration value out of range, using the default", "key", key,
                 "default", a);
        v = def;
    }
    return v;
}

static void service_usage(FILE *fp, const char *name)
{
    fprintf(fp,
            "usage: mailyard-%s [--version] [--help]\n"
            "Configuration comes from MAILYARD_* environment variables (and the file\n"
            "named by MAILYARD_CONFIG_FILE); see docs/configuration.md.\n", name);
}
