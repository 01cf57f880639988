/*
 * main.c - mailyard-relay: the last stage. Consumes "relay" jobs, delivers
 * by SMTP to each domain's MX (or a smarthost) or into a Maildir, retries
 * with backoff, bounces with DSNs, and serves /v1/queue. See docs/relay.md.
 */
#include "relay.h"
#include "relay_dkim.h"
#include "relay_tlsrpt.h"

/* Delivery waits on the network, not the CPU: more consumer threads than the
 * 2 of the other stages (MAILYARD_WORKER_THREADS overrides; docs/relay.md
 * "Performance"). */
#define RELAY_WORKER_THREADS_DEFAULT 8
/* Jobs per transaction (MAILYARD_JOB_BATCH): one commit for several
 * deliveries when the queue is long (docs/relay.md "Performance"). */
#define RELAY_JOB_BATCH_DEFAULT 8

int main(int argc, char **argv)
{
    service svc;
    relay_state st;

    if (service_init(&svc, "relay", "127.0.0.1:9105", argc, argv) != 0)
        return 1;
    if (relay_state_init(&st, &svc) != 0 || relay_api_register(&svc, &st) != 0 ||
        relay_api_dkim_register(&svc, &st) != 0 || relay_tlsrpt_api_register(&svc, &st) != 0 ||
        service_add_worker_n(&svc, "relay", relay_job_handle, &st,
                             RELAY_WORKER_THREADS_DEFAULT, RELAY_JOB_BATCH_DEFAULT) != 0) {
        relay_state_free(&st);
        service_cleanup(&svc);
        return 1;
    }
    int rc = service_run(&svc);
    relay_state_free(&st);
    service_cleanup(&svc);
    return rc;
}
