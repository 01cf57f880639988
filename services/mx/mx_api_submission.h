/*
 * mx_api_submission.h - mx's admin API for the submission service
 * (docs/api/mx.yaml): users with passwords, their sender/From grants and
 * the client certificates that authenticate as them. See
 * mx_api_submission.c for the routes.
 *
 * Ownership: the routes borrow svc (main's), which outlives the server.
 */
#ifndef MAILYARD_MX_API_SUBMISSION_H
#define MAILYARD_MX_API_SUBMISSION_H

#include "service.h"

/* Registers the /v1/submission/... routes on svc->http (before
 * service_run). 0, or -1 when a route cannot be added. */
int mx_api_submission_register(service *svc);

#endif
