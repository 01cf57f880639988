/*
 * relay_api_dpol.c - GET /v1/destinations: the destination-domain
 * policies of this relay process (MAILYARD_RELAY_DOMAIN_POLICY,
 * relay_dpol.h) with their live state, for operators and tests:
 *
 *   -> {"destinations": [{"domain", "concurrency", "start", "window",
 *                         ["rate", "per_seconds", "tokens"]}, ...]}
 *
 * "window" is the current slow-start concurrency; "tokens" what is left
 * of the rate. Per process: with several replicas each has its own.
 * Owns nothing.
 */
#include "relay_queue.h"
#include "relay_dpol.h"

#include <time.h>

#include "http.h"

static void dpol_get(void *arg, const http_request *req, http_response *resp);

int relay_api_dpol_register(service *svc, relay_state *st)
{
    return http_route(svc->http, "GET", "/v1/destinations", dpol_get, st);
}

static void dpol_get(void *arg, const http_request *req, http_response *resp)
{
    relay_state *st = arg;
    struct timespec ts;
    (void)req;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    http_reply_json(resp, 200, json_pack("{s:o}", "destinations",
                                         relay_dpol_json(st->dpol, now)));
}
