/*
 * main.c - mailyard-mx: the SMTP ingress. Receives mail (RFC 5321),
 * checks recipients with rewrite, stores each message in the spool and
 * hands it to rewrite. The admin HTTP server (/healthz, /readyz, /metrics)
 * comes from the service skeleton, plus the submission API
 * (mx_api_submission.c). See docs/mx.md.
 */
#include "log.h"
#include "mx_api_submission.h"
#include "service.h"
#include "smtp_server.h"

int main(int argc, char **argv)
{
    service svc;
    if (service_init(&svc, "mx", "127.0.0.1:9101", argc, argv) != 0)
        return 1;
    if (mx_api_submission_register(&svc) != 0) {
        log_error("cannot register the submission API");
        service_cleanup(&svc);
        return 1;
    }
    char err[512];
    smtp_server *smtp = smtp_server_start(&svc, err, sizeof err);
    if (smtp == NULL) {
        log_error("cannot start the SMTP server", "error", err);
        service_cleanup(&svc);
        return 1;
    }
    int rc = service_run(&svc);      /* blocks until SIGTERM */
    smtp_server_stop(smtp);          /* stop accepting, drain, 421 the rest */
    service_cleanup(&svc);
    return rc;
}
