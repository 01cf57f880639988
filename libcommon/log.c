/*
 * log.c - JSON-lines logging to stdout.
 *
 * Each call builds one complete line ({"ts":...,"level":...,"service":...,
 * "msg":...,key:value...}\n) in a private buffer and emits it with a single
 * write(2) (retried only for the remainder of a short write), so lines from
 * different threads never interleave.
 *
 * Strings are JSON-escaped: '"' and '\\' with a backslash, control
 * characters (and DEL) as \u00XX, and bytes that are not valid UTF-8 as
 * \ufffd, so any peer-supplied value gives a valid JSON line. Each value is
 * cut at LOG_VALUE_MAX bytes (marked with "...").
 *
 * Global state: this file holds the one exception to "no global mutable
 * state outside main": the service name and the level threshold, a
 * file-static set once by log_init() from main before any thread starts and
 * only read afterwards. An unknown level name leaves the default (info).
 */
#include "log.h"
#include "utf8.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"

#define LOG_VALUE_MAX 8192
#define LOG_LINE_MAX  (1024 * 1024)

/* Written once by log_init() before threads exist; read-only afterwards. */
static struct {
    char           service[64];
    enum log_level min;
} log_settings = { "-", LOG_INFO };

static const char *const log_level_names[] = { "debug", "info", "warn", "error" };

static int    log_append_escaped(buf *b, const char *s);
static void   log_emit(const char *level, const char *msg, va_list ap);
static void   log_write_all(const char *p, size_t n);

void log_init(const char *service, const char *level)
{
    if (service != NULL) {
        size_t n = strlen(service);
        if (n >= sizeof log_settings.service)
            n = sizeof log_settings.service - 1;
        memcpy(log_settings.service, service, n);
        log_settings.service[n] = '\0';
    }
    if (level == NULL)
        level = getenv("MAILYARD_LOG_LEVEL");
    log_settings.min = LOG_INFO;
    if (level == NULL)
        return;
    for (size_t i = 0; i < sizeof log_level_names / sizeof log_level_names[0]; i++)
        if (strcasecmp(level, log_level_names[i]) == 0)
            log_settings.min = (enum log_level)i;
    if (strcasecmp(level, "warning") == 0)
        log_settings.min = LOG_WARN;
}

void log_msg(enum log_level lvl, const char *msg, ...)
{
    if (lvl < log_settings.min)
        return;
    if ((unsigned)lvl > LOG_ERROR)
        lvl = LOG_ERROR;
    va_list ap;
    va_start(ap, msg);
    log_emit(log_level_names[lvl], msg, ap);
    va_end(ap);
}

_Noreturn void log_fatal(const char *msg, ...)
{
    va_list ap;
    va_start(ap, msg);
    log_emit("fatal", msg, ap);
    va_end(ap);
    exit(1);
}

_Noreturn void log_panic(const char *msg, ...)
{
    va_list ap;
    va_start(ap, msg);
    log_emit("panic", msg, ap);
    va_end(ap);
    abort();
}

/* Builds and writes one line; ap holds key, value, ..., NULL. A NULL value
 * (odd count) is written as JSON null. */
static void log_emit(const char *level, const char *msg, va_list ap)
{
    struct timespec ts;
    struct tm tm;
    char stamp[40];
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || gmtime_r(&ts.tv_sec, &tm) == NULL) {
        memset(&tm, 0, sizeof tm);
        ts.tv_nsec = 0;
    }
    int sn = snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
                      tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                      tm.tm_min, tm.tm_sec, (long)(ts.tv_nsec / 1000000));
    if (sn < 0 || (size_t)sn >= sizeof stamp)
        stamp[0] = '\0';

    /* The ceiling leaves room to close the line: once a field would pass
     * LOG_LINE_MAX it is dropped and "truncated":true ends the object. */
    buf b;
    buf_init(&b, LOG_LINE_MAX + 64);
    (void)buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"service\":", stamp, level);
    (void)log_append_escaped(&b, log_settings.service);
    (void)buf_append_str(&b, ",\"msg\":");
    (void)log_append_escaped(&b, msg ? msg : "");
    int truncated = 0;
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (key == NULL)
            break;
        const char *val = va_arg(ap, const char *);
        size_t safe = b.len;
        int bad = buf_append_str(&b, ",") != 0 || log_append_escaped(&b, key) != 0 ||
                  buf_append_str(&b, ":") != 0 ||
                  (val ? log_append_escaped(&b, val) : buf_append_str(&b, "null")) != 0;
        if (bad || b.len > LOG_LINE_MAX) {
            b.len = safe;
            b.data[b.len] = '\0';
            truncated = 1;
            break;
        }
        if (val == NULL)
            break;
    }
    if (truncated)
        (void)buf_append_str(&b, ",\"truncated\":true");
    if (buf_append_str(&b, "}\n") != 0)
        panic("log: no room to close a line");
    log_write_all(b.data, b.len);
    buf_release(&b);
}

static void log_write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(1, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;     /* nowhere to report a failing stdout */
        }
        p += w;
        n -= (size_t)w;
    }
}


/* Appends s as a JSON string literal (with quotes), cut at LOG_VALUE_MAX.
 * Returns -1 if the buffer's ceiling was reached (content then incomplete). */
static int log_append_escaped(buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s);
    size_t lim = len > LOG_VALUE_MAX ? LOG_VALUE_MAX : len;
    size_t i = 0;
    int rc = buf_append(b, "\"", 1);
    while (i < lim) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            char e[2] = { '\\', (char)c };
            rc |= buf_append(b, e, 2);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
            rc |= buf_append(b, e, 6);
            i++;
        } else {
            size_t n = utf8_seq_len(p + i, lim - i);
            if (n == 0) {
                rc |= buf_append(b, "\\ufffd", 6);
                i++;
            } else {
                rc |= buf_append(b, p + i, n);
                i += n;
            }
        }
    }
    if (lim < len)
        rc |= buf_append(b, "...", 3);
    rc |= buf_append(b, "\"", 1);
    return rc ? -1 : 0;
}
