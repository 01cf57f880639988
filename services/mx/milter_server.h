/*
 * milter_server.h - milter mode of mx (`mailyard-mx --milter`): instead of
 * listening for SMTP, mx speaks the milter protocol (libmilter) on
 * MAILYARD_MILTER_SOCKET, so a site that keeps Postfix (or Sendmail) in
 * front gets the same checks and policy as mx's own listener: the DNSBL
 * check of the client at RCPT (554 5.7.1), sender authentication at the
 * end of the message (smtp_auth.h: SPF, DKIM, DMARC, ARC; our old
 * Authentication-Results removed, ours inserted at the top; the DMARC
 * policy: 550 5.7.1, or 451 4.7.0 on a temporary error), and with
 * MAILYARD_MILTER_HANDOFF=on the hand-off of the accepted message to the
 * pipeline (smtp_commit.h: spool + rewrite job, durable before the MTA is
 * told to discard its copy). docs/mx.md, "Milter mode".
 *
 * Threads: libmilter runs one listener thread (here: the thread that
 * milter_server_start() creates for smfi_main) and one thread per MTA
 * connection; the callbacks of one connection run one after the other.
 * Per-connection state lives in the libmilter context (smfi_setpriv).
 *
 * Global state: libmilter passes no user pointer to its callbacks and keeps
 * its own process-wide state (one registration, one socket, smfi_main once
 * per process). milter_server.c therefore keeps ONE static pointer to the
 * server, set before smfi_main starts and read only by the first callback
 * of each connection, which stores it in the connection's private data.
 * libmilter also starts a thread that sigwait()s for SIGTERM, SIGINT and
 * SIGHUP, next to the service's own (shutdown.h); whichever gets a signal,
 * the service stops: when smfi_main returns on its own, the server asks
 * the service to shut down (so in milter mode SIGHUP may stop the process;
 * milter mode has no certificate to reload).
 *
 * Ownership: milter_server_start() returns a server main owns and passes to
 * milter_server_stop(), which stops libmilter, waits for the open MTA
 * connections (up to MAILYARD_SMTP_DRAIN_SECONDS) and frees it. At most one
 * server per process.
 */
#ifndef MAILYARD_MILTER_SERVER_H
#define MAILYARD_MILTER_SERVER_H

#include <stddef.h>
#include "service.h"

typedef struct milter_server milter_server;

/* Reads the configuration, opens the milter socket and starts smfi_main in
 * a thread. NULL with err filled on a bad setting or a socket that cannot
 * be opened. */
milter_server *milter_server_start(service *svc, char *err, size_t errlen);
void           milter_server_stop(milter_server *ms);

#endif
