/*
 * log.h - JSON-lines logging to stdout.
 *
 * One JSON object per line: {"ts":"2026-11-22T07:00:00.123Z","level":"info",
 * "service":"mx","msg":"...", ...fields}. Fields are given as alternating
 * key/value C strings terminated by NULL; well-known keys are "queue_id",
 * "message_id", "job_id", "client", "rcpt". Values are JSON-escaped.
 * Lines are written with a single write(2) so threads do not interleave.
 *
 * The service name is set once at start-up by log_init() (the only process
 * wide setting, made by main before threads start). Level filter from
 * MAILYARD_LOG_LEVEL (debug, info, warn, error; default info).
 *
 * Error policy (STYLE.md): log_fatal() logs and exits(1) for a broken
 * environment; log_panic() logs and aborts for a broken invariant.
 */
#ifndef MAILYARD_LOG_H
#define MAILYARD_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_init(const char *service, const char *level);
void log_msg(enum log_level lvl, const char *msg, ...) __attribute__((sentinel));
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__, (char *)0)
#define log_info(...)  log_msg(LOG_INFO,  __VA_ARGS__, (char *)0)
#define log_warn(...)  log_msg(LOG_WARN,  __VA_ARGS__, (char *)0)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__, (char *)0)
_Noreturn void log_fatal(const char *msg, ...) __attribute__((sentinel));
_Noreturn void log_panic(const char *msg, ...) __attribute__((sentinel));
#define fatal(...) log_fatal(__VA_ARGS__, (char *)0)
#define panic(...) log_panic(__VA_ARGS__, (char *)0)

#endif
