/*
 * smtp_received.c - formats the Received: header mx prepends to every
 * accepted message. See smtp_received.h.
 */
#include <stdio.h>
#include <string.h>
#include "smtp_received.h"

void smtp_received_date(time_t t, char *out, size_t outlen)
{
    static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) {
        t = 0;
        gmtime_r(&t, &tm);
    }
    /* Not strftime: %a/%b follow the locale, RFC 5322 wants English. */
    snprintf(out, outlen, "%s, %d %s %04d %02d:%02d:%02d +0000",
             days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int smtp_received_format(buf *out, const char *helo, const char *client_ip,
                         const char *hostname, const char *proto,
                         const char *qid, const char *rcpt, time_t now)
{
    char date[64];
    smtp_received_date(now, date, sizeof date);
    int v6 = strchr(client_ip, ':') != NULL;
    int rc = buf_printf(out, "Received: from %s ([%s%s]) by %s (Mailyard) with %s id %s",
                        helo, v6 ? "IPv6:" : "", client_ip, hostname, proto, qid);
    if (rc == 0 && rcpt != NULL)
        rc = buf_printf(out, "\r\n\tfor <%s>; %s\r\n", rcpt, date);
    else if (rc == 0)
        rc = buf_printf(out, ";\r\n\t%s\r\n", date);
    return rc;
}
