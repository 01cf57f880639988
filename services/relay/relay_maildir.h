/*
 * relay_maildir.h - the "maildir" transport: one file per recipient in a
 * single Maildir (MAILYARD_RELAY_MAILDIR), for tests, demos and local
 * mailbox hand-off.
 *
 * Delivery follows the Maildir protocol: create tmp/<unique>, write
 * "Return-Path: <sender>\r\n", "Delivered-To: rcpt\r\n" and the message
 * bytes unchanged, fsync, rename into new/<unique>, fsync the directory.
 * The unique name is "time.pid_thread_counter.host" where host has '/' and
 * ':' escaped as "\057" and "\072" (maildir(5)).
 *
 * relay_maildir_name() is pure (unit-tested); relay_maildir_prepare()
 * creates dir, dir/cur, dir/new and dir/tmp (mode 0700) if missing.
 * Errors are returned with a message in err; nothing is fatal here.
 */
#ifndef MAILYARD_RELAY_MAILDIR_H
#define MAILYARD_RELAY_MAILDIR_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

/* Returns 0, or -1 if out (outlen bytes) is too small. */
int relay_maildir_name(char *out, size_t outlen, time_t now, pid_t pid,
                       int thread_no, unsigned long counter, const char *host);
int relay_maildir_prepare(const char *dir, char *err, size_t errlen);
/* Writes one copy; name is the unique name (from relay_maildir_name). */
int relay_maildir_deliver(const char *dir, const char *name, const char *sender,
                          const char *rcpt, const char *msg, size_t len,
                          char *err, size_t errlen);

#endif
