/*
 * relay_notify.h - the delivery reports of one relay job run: collects,
 * per recipient, a "failed" report (bounced, unless NOTIFY excludes
 * FAILURE) or a success report (delivered, NOTIFY=SUCCESS, and the next
 * hop did not take the DSN parameters itself: "relayed" after SMTP,
 * "delivered" after LMTP or Maildir), then queues at most one DSN per
 * action (libcommon dsn.h) to the envelope sender.
 *
 * Ownership: a relay_notify owns copies of everything added to it;
 * relay_notify_free() releases it (NULL ok). One per job run, one thread.
 */
#ifndef MAILYARD_RELAY_NOTIFY_H
#define MAILYARD_RELAY_NOTIFY_H

#include <stddef.h>

#include "relay.h"
#include "relay_dsnp.h"

typedef struct relay_notify relay_notify;

relay_notify *relay_notify_create(void);
void          relay_notify_free(relay_notify *nt);
/* Adds rcpt's report for outcome o (bounced: a failure; else a 2xx: a
 * success). Returns the report's action name ("failed", "relayed",
 * "delivered") when one was added, NULL when NOTIFY asks for none. */
const char   *relay_notify_add(relay_notify *nt, const char *rcpt, const relay_outcome *o,
                               int bounced, const relay_dsnp *dp);
/* Queues the collected reports (one DSN per action) on c in the caller's
 * transaction. 0, or -1 on a database error. */
int           relay_notify_queue(relay_notify *nt, db_conn *c, const char *reporting_mta,
                                 const spool_message *msg, const char *mail_from,
                                 spool_jobs *out);

#endif
