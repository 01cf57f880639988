/*
 * spool_dmarc.h - the shared record of authors whose address we encoded
 * into our domain (DMARC mitigation "encode-address"), in the spool schema
 * (libcommon/sql/004_dmarc_encoded.sql).
 *
 * lists and rewrite record an author each time they send a message with
 * its From encoded; rewrite looks the author up when a reply to an encoded
 * address arrives, and accepts it only while the author was seen within
 * the reply window (MAILYARD_DMARC_REPLY_WINDOW_DAYS). Authors are compared
 * case-insensitively (stored lower-case).
 *
 * Functions run on a connection the caller holds (inside its transaction
 * when it has one). Ownership: nothing is kept.
 */
#ifndef MAILYARD_SPOOL_DMARC_H
#define MAILYARD_SPOOL_DMARC_H

#include "db.h"

/* Records (or refreshes) author as seen now, encoded as encoded.
 * 0, or -1 on a database error. */
int spool_dmarc_record(db_conn *c, const char *author, const char *encoded);
/* 1 when author was seen within the last window_days days, 0 when not
 * (never, or too long ago), -1 on a database error. */
int spool_dmarc_seen(db_conn *c, const char *author, long window_days);

#endif
