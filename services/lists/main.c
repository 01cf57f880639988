/*
 * main.c - mailyard-lists: mailing lists. Consumes "lists" jobs (posting
 * policy, List-* headers, subject prefix, expansion to the members, archive
 * job), keeps the moderation queue, and serves /v1/lists and /v1/held.
 * See docs/lists.md and docs/api/lists.yaml.
 */
#include "log.h"
#include "service.h"
#include "lists.h"

int main(int argc, char **argv)
{
    service svc;
    lists_state st;

    if (service_init(&svc, "lists", "127.0.0.1:9103", argc, argv) != 0)
        return 1;
    lists_state_init(&st, &svc);
    if (lists_api_register(&svc, &st) != 0)
        fatal("cannot register the lists API routes");
    if (service_add_worker(&svc, "lists", lists_job_handle, &st) != 0)
        fatal("cannot add the lists worker");
    int rc = service_run(&svc);
    lists_state_release(&st);
    service_cleanup(&svc);
    return rc;
}
