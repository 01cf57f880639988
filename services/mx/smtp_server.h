/*
 * smtp_server.h - the SMTP listener and its connections (I/O only; the
 * protocol is in smtp_session.c).
 *
 * Model of this version: one listener thread and one thread per connection
 * (blocking sockets, 256 KiB stacks), at most MAILYARD_SMTP_MAX_CONNECTIONS
 * at a time (over it: "421 4.7.0" and close). Each connection thread owns
 * its session, an httpc client for rewrite (created at the first RCPT) and
 * a jobq for publishing (created at the first accepted message); it
 * borrows a database connection from svc->db only for the commit and the
 * publication.
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
