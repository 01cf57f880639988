/*
 * relay_tlsrpt.h - SMTP TLS Reporting (RFC 8460) for the mx transport.
 *
 *  - relay_tlsrpt.c: after each delivery attempt to a domain, the TLS
 *    session is classified (success, or a failure with an RFC 8460 §4.3
 *    result type) under the policy that applied (tlsa when DANE decided,
 *    sts for an MTA-STS policy, else no-policy-found) and counted in
 *    relay.tlsrpt_results per UTC day (services/relay/sql/005_tlsrpt.sql).
 *    An MTA-STS policy announced in DNS that could not be fetched or parsed
 *    (relay_sts_policy.failure) makes the attempt an sts failure of that
 *    type (sts-policy-fetch-error, sts-policy-invalid, sts-webpki-invalid).
 *    Attempts that never reached TLS (connection refused, DNS errors) are
 *    not sessions and are not counted.
 *  - relay_tlsrpt_report.c: builds the JSON report of a domain and day
 *    (organization-name, date-range, contact-info, report-id, policies[]
 *    with policy, summary and failure-details), discovers the rua of
 *    TXT _smtp._tls.<domain> ("v=TLSRPTv1; rua=..."), and sends the gzipped
 *    report: https -> POST application/tlsrpt+gzip (libcurl, verified
 *    certificate, no redirects); mailto -> a message into the pipeline
 *    (spool + rewrite job, like DSNs) with the report attached and the
 *    TLS-Report-Domain / TLS-Report-Submitter headers (§5.3).
 *  - relay_tlsrpt_api.c: POST /v1/tls-reports/send, GET /v1/tls-reports
 *    and the daily sender thread (MAILYARD_RELAY_TLSRPT_INTERVAL_SECONDS).
 *
 * SECURITY: TXT records are untrusted (bounded parsing, at most
 * RELAY_TLSRPT_MAX_RUA URIs, only https: and mailto:, addresses checked);
 * reason texts stored are truncated.
 * Ownership: the sender (relay_tlsrpt_sched) is owned by relay_state;
 * reports are built into caller-owned json_t.
 */
#ifndef MAILYARD_RELAY_TLSRPT_H
#define MAILYARD_RELAY_TLSRPT_H

#include <stddef.h>
#include <jansson.h>

#include "db.h"
#include "relay.h"
#include "relay_mtasts.h"

#define RELAY_TLSRPT_MAX_RUA   8
#define RELAY_TLSRPT_URI_MAX   512
#define RELAY_TLSRPT_REASON_MAX 200

struct relay_dane;

/* The classification of one attempt (pure; unit-tested). result "" =
 * success, NULL = not a TLS session (not counted). */
const char *relay_tlsrpt_classify(const relay_outcome *o, int policy_sts, int policy_tlsa);

/* Counts the attempt whose outcomes are out[0..n) (all recipients shared
 * the session) for domain. dane and sts describe the policy that applied
 * (sts mode NONE = no STS policy). Logs database errors, never fails. */
void relay_tlsrpt_note(relay_state *st, const char *domain, const struct relay_dane *dane,
                       const relay_sts_policy *sts, const relay_outcome *out, size_t n);

/* The rua URIs of a "v=TLSRPTv1; rua=..." record into rua[0..max);
 * returns their number (0 when the record is not TLSRPTv1 or has none). */
size_t relay_tlsrpt_rua_parse(const char *txt, char (*rua)[RELAY_TLSRPT_URI_MAX], size_t max);

/* The RFC 8460 report of domain for day ("YYYY-MM-DD") into *out (owned by
 * the caller); 0, 1 when there is nothing to report, -1 on a database
 * error. */
int  relay_tlsrpt_report_build(db_conn *c, const char *org, const char *contact,
                               const char *day, const char *domain, const char *report_id,
                               json_t **out);
/* Builds and sends the reports of every domain with results on day that
 * were not sent yet (force: again). Fills *summary with one object per
 * domain ({"domain","report_id","state","rua":[...],"detail"}). 0, or -1 on
 * a database error. */
int  relay_tlsrpt_send_day(relay_state *st, db_conn *c, const char *day, int force,
                           json_t *summary);

/* relay_tlsrpt_api.c: routes and the daily sender. */
int  relay_tlsrpt_api_register(service *svc, relay_state *st);
typedef struct relay_tlsrpt_sched relay_tlsrpt_sched;
/* interval_s 0: no thread (on demand only). NULL on thread failure. */
relay_tlsrpt_sched *relay_tlsrpt_sched_start(relay_state *st, long interval_s);
void                relay_tlsrpt_sched_stop(relay_tlsrpt_sched *s);   /* NULL ok */

#endif
