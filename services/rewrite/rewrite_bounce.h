/*
 * rewrite_bounce.h - finding the message a bounce is about: the
 * Message-ID of the returned message inside a DSN (RFC 3464: the
 * message/rfc822, message/global or text/rfc822-headers part) or, for a
 * non-standard bounce that quotes the original inline, the first
 * "Message-ID:" line of the body after the bounce's own header section.
 *
 * Pure: no I/O; it works on the raw bytes and allocates the result.
 * Limits: at most REWRITE_BOUNCE_MAX_FIELDS fields per header section and
 * REWRITE_BOUNCE_MAX_ID bytes of Message-ID; anything else gives NULL.
 */
#ifndef MAILYARD_REWRITE_BOUNCE_H
#define MAILYARD_REWRITE_BOUNCE_H

#include <stddef.h>

#define REWRITE_BOUNCE_MAX_FIELDS 1000
#define REWRITE_BOUNCE_MAX_ID     998

/* The returned message's Message-ID (trimmed, as written, e.g.
 * "<id@host>"), malloc'd for the caller, or NULL if none is found. */
char *rewrite_bounce_message_id(const char *raw, size_t len);

#endif
