/*
 * smtp_server.h - the SMTP listeners and their connections (I/O only; the
 * protocol is in smtp_session.c).
 *
 * Listeners: MAILYARD_SMTP_LISTEN (STARTTLS offered, MX policy) and, if
 * set, MAILYARD_SMTPS_LISTEN (implicit TLS, RFC 8314; policy
 * MAILYARD_SMTPS_POLICY, submission by default) and
 * MAILYARD_SUBMISSION_LISTEN (STARTTLS, SUBMISSION policy: AUTH, grants
 * and client certificates through smtp_submit.h). Each may require a PROXY
 * header (v1/v2) from MAILYARD_SMTP_PROXY_TRUSTED_NETWORKS; the proxied
 * address is the client's from then on. Before the greeting: the PROXY
 * header, the per-IP limit (MAILYARD_SMTP_MAX_CONN_PER_IP, "421 4.7.0"),
 * pregreet detection (MAILYARD_SMTP_PREGREET_MS, "554 5.5.0") and, on the
 * implicit-TLS listener, the handshake. Read timeouts per state: command
 * (MAILYARD_SMTP_TIMEOUT_SECONDS) or data block
 * (MAILYARD_SMTP_DATA_TIMEOUT_SECONDS). The certificate is reloaded on
 * SIGHUP or when its files change (smtp_tls.h).
 *
 * Model: event-driven (smtp_loop.h). One libevent loop thread accepts
 * and does all socket and TLS I/O and the timeouts of every connection; a
 * pool of MAILYARD_SMTP_WORKERS threads (smtp_workers.h) runs the session
 * feeds, whose callbacks block (rewrite over HTTP, DNSBL, the commit), and
 * the publication after a 250. At most MAILYARD_SMTP_MAX_CONNECTIONS at a
 * time (over it: "421 4.7.0" and close). Listeners are a table; each has
 * its own session policy (a smtp_session_cfg). A connection owns its
 * session; the workers own the httpc clients for rewrite and the jobq
 * clients for publishing; a commit or publication borrows a database
 * connection from svc->db.
 *
 * Stop (after service_run returned, i.e. on SIGTERM): stop accepting, let
 * sessions finish for up to MAILYARD_SMTP_DRAIN_SECONDS (idle sessions
 * between transactions are closed with 421 4.3.2 at once), then answer
 * the rest "421 4.3.2" and close them.
 *
 * Ownership: smtp_server_start() returns a server main owns and passes to
 * smtp_server_stop(), which frees it (accepts NULL). svc is borrowed and
 * must outlive the server.
 */
#ifndef MAILYARD_SMTP_SERVER_H
#define MAILYARD_SMTP_SERVER_H

#include <stddef.h>
#include "service.h"

typedef struct smtp_server smtp_server;

/* Reads the MAILYARD_SMTP_* configuration, loads TLS if configured,
 * binds the listener and starts accepting. NULL with err filled on a bad
 * configuration or a failed bind. */
smtp_server *smtp_server_start(service *svc, char *err, size_t errlen);
void         smtp_server_stop(smtp_server *srv);

#endif
