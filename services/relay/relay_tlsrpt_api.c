/*
 * relay_tlsrpt_api.c - the operators' side of TLS-RPT (relay_tlsrpt.h):
 *
 *   POST /v1/tls-reports/send  {"date": "YYYY-MM-DD"?, "force": bool?}
 *        builds and sends the reports of that UTC day (default yesterday);
 *        answers {"date": D, "reports": [{domain, report_id, state, rua,
 *        detail, report}]}
 *   GET  /v1/tls-reports?date=D&domain=X
 *        the report that would be sent (not sent, nothing recorded)
 *
 * and the daily sender: a thread that, every
 * MAILYARD_RELAY_TLSRPT_INTERVAL_SECONDS, sends yesterday's reports (each
 * (day, domain) is claimed in relay.tlsrpt_reports, so a restart or a
 * second relay does not send twice).
 *
 * Owns: the sender thread and its stop flag.
 */
#include "relay_tlsrpt.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "xalloc.h"

struct relay_tlsrpt_sched {
    relay_state *st;
    long         interval_s;
    atomic_int   stop;
    pthread_t    thread;
};

static void api_send(void *arg, const http_request *req, http_response *resp);
static void api_get(void *arg, const http_request *req, http_response *resp);
static int  tlsrpt_day_ok(const char *d);
static void tlsrpt_yesterday(char out[16]);
static void *tlsrpt_sched_main(void *arg);

int relay_tlsrpt_api_register(service *svc, relay_state *st)
{
    if (http_route(svc->http, "POST", "/v1/tls-reports/send", api_send, st) != 0 ||
        http_route(svc->http, "GET", "/v1/tls-reports", api_get, st) != 0) {
        log_error("cannot register the TLS-RPT API routes");
        return -1;
    }
    return 0;
}

/* "YYYY-MM-DD" with digits in the right places (PostgreSQL checks the
 * calendar). */
static int tlsrpt_day_ok(const char *d)
{
    if (d == NULL || strlen(d) != 10 || d[4] != '-' || d[7] != '-')
        return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (d[i] < '0' || d[i] > '9'))
            return 0;
    return 1;
}

static void tlsrpt_yesterday(char out[16])
{
    time_t t = time(NULL) - 86400;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, 16, "%Y-%m-%d", &tm) == 0)
        (void)str_copy(out, 16, "1970-01-01");
}

static void api_send(void *arg, const http_request *req, http_response *resp)
{
    relay_state *st = arg;
    static const char *const allowed[] = { "date", "force", NULL };
    char day[16];
    int force = 0;

    tlsrpt_yesterday(day);
    if (req->json != NULL) {
        if (http_json_check_fields(req, resp, allowed, NULL) != 0)
            return;
        json_t *d = json_object_get(req->json, "date"), *f = json_object_get(req->json, "force");
        if (d != NULL && (!json_is_string(d) || !tlsrpt_day_ok(json_string_value(d)))) {
            http_reply_error(resp, 400, "bad_request", "date must be YYYY-MM-DD");
            return;
        }
        if (f != NULL && !json_is_boolean(f)) {
            http_reply_error(resp, 400, "bad_request", "force must be a boolean");
            return;
        }
        if (d != NULL)
            (void)str_copy(day, sizeof(day), json_string_value(d));
        force = json_is_true(f);
    }
    db_conn *c = db_pool_acquire(st->db, 5000);
    if (c == NULL) {
        http_reply_error(resp, 503, "unavailable", "database unavailable");
        return;
    }
    json_t *reports = json_array();
    int rc = relay_tlsrpt_send_day(st, c, day, force, reports);
    db_pool_release(st->db, c);
    if (rc != 0) {
        json_decref(reports);
        http_reply_error(resp, 500, "internal", "database error");
        return;
    }
    http_reply_json(resp, 200, json_pack("{s:s, s:o}", "date", day, "reports", reports));
}

static void api_get(void *arg, const http_request *req, http_response *resp)
{
    relay_state *st = arg;
    const char *day = http_request_query(req, "date"), *domain = http_request_query(req, "domain");
    char yest[16];

    if (day == NULL) {
        tlsrpt_yesterday(yest);
        day = yest;
    }
    if (!tlsrpt_day_ok(day)) {
        http_reply_error(resp, 400, "bad_request", "date must be YYYY-MM-DD");
        return;
    }
    if (domain == NULL || domain[0] == '\0' || strlen(domain) > 253) {
        http_reply_error(resp, 400, "bad_request", "domain is required");
        return;
    }
    db_conn *c = db_pool_acquire(st->db, 5000);
    if (c == NULL) {
        http_reply_error(resp, 503, "unavailable", "database unavailable");
        return;
    }
    json_t *rep = NULL;
    char rid[300];
    snprintf(rid, sizeof(rid), "preview@%s", st->hostname);
    int rc = relay_tlsrpt_report_build(c, st->tlsrpt_org, st->tlsrpt_contact, day, domain, rid,
                                       &rep);
    db_pool_release(st->db, c);
    if (rc < 0) {
        http_reply_error(resp, 500, "internal", "database error");
        return;
    }
    if (rc == 1) {
        http_reply_error(resp, 404, "not_found", "no TLS sessions recorded for that day and domain");
        return;
    }
    http_reply_json(resp, 200, rep);
}

relay_tlsrpt_sched *relay_tlsrpt_sched_start(relay_state *st, long interval_s)
{
    if (interval_s <= 0)
        return NULL;
    relay_tlsrpt_sched *s = xcalloc(1, sizeof(*s));
    s->st = st;
    s->interval_s = interval_s;
    atomic_init(&s->stop, 0);
    if (pthread_create(&s->thread, NULL, tlsrpt_sched_main, s) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

void relay_tlsrpt_sched_stop(relay_tlsrpt_sched *s)
{
    if (s == NULL)
        return;
    atomic_store(&s->stop, 1);
    pthread_join(s->thread, NULL);
    free(s);
}

static void *tlsrpt_sched_main(void *arg)
{
    relay_tlsrpt_sched *s = arg;
    /* the first run a minute after start, then every interval */
    long waited = s->interval_s > 60 ? s->interval_s - 60 : 0;

    while (!atomic_load(&s->stop)) {
        sleep(1);
        if (++waited < s->interval_s)
            continue;
        waited = 0;
        char day[16];
        tlsrpt_yesterday(day);
        db_conn *c = db_pool_acquire(s->st->db, 5000);
        if (c == NULL) {
            log_warn("TLS-RPT: no database connection; reports postponed");
            continue;
        }
        json_t *done = json_array();
        if (relay_tlsrpt_send_day(s->st, c, day, 0, done) != 0)
            log_warn("TLS-RPT: sending the daily reports failed", "day", day);
        json_decref(done);
        db_pool_release(s->st->db, c);
    }
    return NULL;
}
