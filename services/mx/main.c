/*
 * main.c - mailyard-mx: the SMTP ingress. Receives mail (RFC 5321),
 * checks recipients with rewrite, stores each message in the spool and
 * hands it to rewrite. With --milter it speaks the milter protocol to an
 * MTA in front instead (milter_server.h). The admin HTTP server (/healthz,
 * /readyz, /metrics) comes from the service skeleton, plus the block rules
 * API (mx_api_blocks.c) and the submission API (mx_api_submission.c). See
 * docs/mx.md.
 */
#include <string.h>
#include "log.h"
#include "mx_api_submission.h"
#include "service.h"
#include "milter_server.h"
#include "smtp_server.h"
#include "mx_api_blocks.h"

int main(int argc, char **argv)
{
    int milter = 0, n = 1;           /* --milter is ours; the rest is service_init's */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--milter") == 0)
            milter = 1;
        else
            argv[n++] = argv[i];
    }
    argc = n;
    service svc;
    if (service_init(&svc, "mx", "127.0.0.1:9101", argc, argv) != 0)
        return 1;
    if (mx_api_blocks_register(&svc) != 0) {     /* /v1/blocks */
        log_error("cannot register the block rules API");
        service_cleanup(&svc);
        return 1;
    }
    if (mx_api_submission_register(&svc) != 0) {
        log_error("cannot register the submission API");
        service_cleanup(&svc);
        return 1;
    }
    char err[512];
    smtp_server *smtp = NULL;
    milter_server *ms = NULL;
    if (milter)
        ms = milter_server_start(&svc, err, sizeof err);
    else
        smtp = smtp_server_start(&svc, err, sizeof err);
    if (smtp == NULL && ms == NULL) {
        log_error(milter ? "cannot start the milter" : "cannot start the SMTP server",
                  "error", err);
        service_cleanup(&svc);
        return 1;
    }
    int rc = service_run(&svc);      /* blocks until SIGTERM */
    smtp_server_stop(smtp);          /* stop accepting, drain, 421 the rest */
    milter_server_stop(ms);          /* stop libmilter, wait for the MTA's connections */
    service_cleanup(&svc);
    return rc;
}
