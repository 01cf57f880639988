/*
 * main.c - mailyard-archive: stores list traffic. Consumes "archive" jobs
 * (one per list copy that lists made) and serves the archive's JSON API
 * (/v1/lists/{addr}/messages, /v1/messages/{id}). See docs/archive.md and
 * docs/api/archive.yaml.
 */
#include "log.h"
#include "service.h"
#include "archive.h"

int main(int argc, char **argv)
{
    service svc;
    archive_state st;

    if (service_init(&svc, "archive", "127.0.0.1:9104", argc, argv) != 0)
        return 1;
    archive_state_init(&st, &svc);
    if (archive_api_register(&svc, &st) != 0)
        fatal("cannot register the archive API routes");
    if (service_add_worker(&svc, "archive", archive_job_handle, &st) != 0)
        fatal("cannot add the archive worker");
    int rc = service_run(&svc);
    service_cleanup(&svc);
    return rc;
}
