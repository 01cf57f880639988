/*
 * main.c - mailyard-rewrite: classifies every recipient of received mail
 * (alias, list, SRS bounce, foreign, unknown), expands aliases, applies SRS
 * and hands the work on to lists and relay. Owns the rewrite schema
 * (domains, aliases) and the SRS secrets. See docs/rewrite.md.
 *
 * This file only wires the parts together:
 *   rewrite_state.c     configuration (SRS, limits, lists client)
 *   rewrite_api.c       /v1/domains, /v1/aliases, /v1/recipients
 *   rewrite_job.c       the "rewrite" stage worker
 *   rewrite_plan.c      the per-message decision (pure)
 *   rewrite_classify.c  the per-recipient classification (pure)
 */
#include "log.h"
#include "rewrite.h"
#include "service.h"

int main(int argc, char **argv)
{
    service svc;
    rewrite_state st;

    if (service_init(&svc, "rewrite", "127.0.0.1:9102", argc, argv) != 0)
        return 1;
    rewrite_state_init(&st, &svc);
    if (rewrite_api_register(&svc, &st) != 0)
        fatal("cannot register the rewrite API");
    if (service_add_worker(&svc, "rewrite", rewrite_job_handle, &st) != 0)
        fatal("cannot add the rewrite worker");

    int rc = service_run(&svc);

    rewrite_state_release(&st);
    service_cleanup(&svc);
    return rc;
}
