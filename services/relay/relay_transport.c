/*
 * relay_transport.c - one delivery attempt for a group of recipients in the
 * same domain, by the configured transport: "mx" (DNS MX with implicit-MX
 * fallback, RFC 5321 §5.1), "smarthost" (one next hop for everything) or
 * "maildir" (local files). Turns every failure into a per-recipient
 * outcome: 2xx delivered, 4xx deferred, 5xx bounced. Owns nothing beyond
 * the call.
 */
#include "relay.h"
#include "relay_dns.h"
#include "relay_maildir.h"

#include <netdb.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "xalloc.h"

static void transport_maildir(relay_state *st, int thread_no, const spool_message *msg,
                              const char *mail_from, const char *const *rcpts, size_t n,
                              relay_outcome *out);
static int  transport_try_addrs(relay_state *st, const char *host, const relay_addr *addrs,
                                size_t naddrs, const spool_message *msg,
                                const char *mail_from, const char *const *rcpts, size_t n,
                                relay_outcome *out, char *last, size_t lastlen);
static void transport_mx(relay_state *st, const spool_message *msg, const char *mail_from,
                         const char *domain, const char *const *rcpts, size_t n,
                         relay_outcome *out);
static void transport_smarthost(relay_state *st, const spool_message *msg,
                                const char *mail_from, const char *const *rcpts, size_t n,
                                relay_outcome *out);
static void transport_all(relay_outcome *out, size_t n, int code, const char *status,
                          const char *reply, const char *host);
static void transport_status_default(relay_outcome *o);
static void fmt_trunc(char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void relay_transport_deliver(relay_state *st, int thread_no, const spool_message *msg,
                             const char *mail_from, const char *domain,
                             const char *const *rcpts, size_t n, relay_outcome *out)
{
    struct timespec t0, t1;

    memset(out, 0, n * sizeof(*out));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    switch (st->transport) {
    case RELAY_TRANSPORT_MAILDIR:
        transport_maildir(st, thread_no, msg, mail_from, rcpts, n, out);
        break;
    case RELAY_TRANSPORT_SMARTHOST:
        transport_smarthost(st, msg, mail_from, rcpts, n, out);
        break;
    case RELAY_TRANSPORT_MX:
        transport_mx(st, msg, mail_from, domain, rcpts, n, out);
        break;
    }
    for (size_t i = 0; i < n; i++)
        transport_status_default(&out[i]);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    metrics_histogram_observe(st->m_attempt_seconds, secs);
}

static void transport_maildir(relay_state *st, int thread_no, const spool_message *msg,
                              const char *mail_from, const char *const *rcpts, size_t n,
                              relay_outcome *out)
{
    char name[512], err[512], host[300];

    snprintf(host, sizeof(host), "maildir:%s", st->maildir);
    for (size_t i = 0; i < n; i++) {
        unsigned long cnt = atomic_fetch_add(&st->maildir_counter, 1);
        if (relay_maildir_name(name, sizeof(name), time(NULL), getpid(), thread_no, cnt,
                               st->hostname) != 0 ||
            relay_maildir_deliver(st->maildir, name, mail_from, rcpts[i], msg->raw,
                                  msg->raw_len, err, sizeof(err)) != 0) {
            if (strlen(name) == 0 || err[0] == '\0')
                snprintf(err, sizeof(err), "maildir file name too long");
            out[i].code = 451;
            (void)str_copy(out[i].status, sizeof(out[i].status), "4.3.0");
            fmt_trunc(out[i].reply, sizeof(out[i].reply), "451 4.3.0 maildir delivery failed: %s",
                     err);
        } else {
            out[i].code = 250;
            (void)str_copy(out[i].status, sizeof(out[i].status), "2.0.0");
            fmt_trunc(out[i].reply, sizeof(out[i].reply), "250 2.0.0 delivered to maildir as %s",
                     name);
        }
        (void)str_copy(out[i].host, sizeof(out[i].host), host);
        err[0] = '\0';
        name[0] = '\0';
    }
}

static void transport_mx(relay_state *st, const spool_message *msg, const char *mail_from,
                         const char *domain, const char *const *rcpts, size_t n,
                         relay_outcome *out)
{
    relay_mx mx[RELAY_DNS_MAX_MX];
    relay_addr addrs[RELAY_DNS_MAX_ADDRS];
    size_t nmx = 0, naddrs = 0;
    char err[512] = "", last[RELAY_SMTP_REPLY_MAX + 64] = "", reply[RELAY_SMTP_REPLY_MAX];

    enum relay_dns_status ds = relay_dns_mx(st->dns, domain, mx, &nmx, err, sizeof(err));
    switch (ds) {
    case RELAY_DNS_OK:
        break;
    case RELAY_DNS_NULLMX:
        fmt_trunc(reply, sizeof(reply), "556 5.1.10 %s", err);
        transport_all(out, n, 556, "5.1.10", reply, "");
        return;
    case RELAY_DNS_NXDOMAIN:
        fmt_trunc(reply, sizeof(reply), "550 5.1.2 Host or domain name not found: %s", err);
        transport_all(out, n, 550, "5.1.2", reply, "");
        return;
    case RELAY_DNS_NODATA:
    case RELAY_DNS_TEMPFAIL:
        fmt_trunc(reply, sizeof(reply), "451 4.4.3 DNS lookup failed: %s", err);
        transport_all(out, n, 451, "4.4.3", reply, "");
        return;
    }
    int implicit = (nmx == 1 && strcmp(mx[0].host, domain) == 0);
    enum relay_dns_status last_addr_status = RELAY_DNS_OK;
    for (size_t m = 0; m < nmx; m++) {
        ds = relay_dns_addrs(st->dns, mx[m].host, st->smtp_port, addrs, &naddrs,
                             err, sizeof(err));
        last_addr_status = ds;
        if (ds != RELAY_DNS_OK) {
            fmt_trunc(last, sizeof(last), "%s", err);
            continue;
        }
        if (transport_try_addrs(st, mx[m].host, addrs, naddrs, msg, mail_from, rcpts, n,
                                out, last, sizeof(last)))
            return;
    }
    if (implicit && (last_addr_status == RELAY_DNS_NXDOMAIN ||
                     last_addr_status == RELAY_DNS_NODATA)) {
        fmt_trunc(reply, sizeof(reply), "550 5.1.2 no MX or address records for %s", domain);
        transport_all(out, n, 550, "5.1.2", reply, "");
        return;
    }
    fmt_trunc(reply, sizeof(reply), "451 4.4.1 no MX host of %s answered: %s", domain, last);
    transport_all(out, n, 451, "4.4.1", reply, "");
}

static void transport_smarthost(relay_state *st, const spool_message *msg,
                                const char *mail_from, const char *const *rcpts, size_t n,
                                relay_outcome *out)
{
    struct addrinfo hints, *res = NULL;
    relay_addr addrs[RELAY_DNS_MAX_ADDRS];
    size_t naddrs = 0;
    char port[16], reply[RELAY_SMTP_REPLY_MAX], last[RELAY_SMTP_REPLY_MAX + 64] = "";

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%d", st->smarthost_port);
    int rc = getaddrinfo(st->smarthost, port, &hints, &res);
    if (rc != 0) {
        fmt_trunc(reply, sizeof(reply), "451 4.4.3 cannot resolve smarthost %s: %s",
                 st->smarthost, gai_strerror(rc));
        transport_all(out, n, 451, "4.4.3", reply, "");
        return;
    }
    for (struct addrinfo *ai = res; ai != NULL && naddrs < RELAY_DNS_MAX_ADDRS; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(addrs[0].sa))
            continue;
        relay_addr *a = &addrs[naddrs++];
        memset(a, 0, sizeof(*a));
        memcpy(&a->sa, ai->ai_addr, ai->ai_addrlen);
        a->len = ai->ai_addrlen;
        if (getnameinfo(ai->ai_addr, ai->ai_addrlen, a->text, sizeof(a->text), NULL, 0,
                        NI_NUMERICHOST) != 0)
            (void)str_copy(a->text, sizeof(a->text), "?");
    }
    freeaddrinfo(res);
    if (transport_try_addrs(st, st->smarthost, addrs, naddrs, msg, mail_from, rcpts, n, out,
                            last, sizeof(last)))
        return;
    fmt_trunc(reply, sizeof(reply), "451 4.4.1 smarthost %s did not answer: %s",
             st->smarthost, last);
    transport_all(out, n, 451, "4.4.1", reply, "");
}

/* Tries each address in turn. Returns 1 when one of them gave final
 * per-recipient answers (out filled), 0 when all failed (last describes the
 * last failure). */
static int transport_try_addrs(relay_state *st, const char *host, const relay_addr *addrs,
                               size_t naddrs, const spool_message *msg,
                               const char *mail_from, const char *const *rcpts, size_t n,
                               relay_outcome *out, char *last, size_t lastlen)
{
    relay_smtp_rcpt *res = xcalloc(n, sizeof(*res));
    relay_smtp_info info;
    relay_smtp_opts o = { .helo = st->helo, .timeout_s = st->timeout_s, .try_tls = 1 };
    char label[320];

    for (size_t a = 0; a < naddrs; a++) {
        int port = addrs[a].sa.ss_family == AF_INET6
                       ? ntohs(((const struct sockaddr_in6 *)&addrs[a].sa)->sin6_port)
                       : ntohs(((const struct sockaddr_in *)&addrs[a].sa)->sin_port);
        snprintf(label, sizeof(label), "%s[%s]:%d", host, addrs[a].text, port);
        o.try_tls = 1;
        enum relay_smtp_result r = relay_smtp_send((const struct sockaddr *)&addrs[a].sa,
                                                   addrs[a].len, host, &o, mail_from, rcpts, n,
                                                   msg->raw, msg->raw_len, res, &info);
        if (r == RELAY_SMTP_TLSFAIL) {
            log_warn("STARTTLS failed; retrying without TLS", "host", label,
                     "error", info.reply);
            o.try_tls = 0;
            r = relay_smtp_send((const struct sockaddr *)&addrs[a].sa, addrs[a].len, host,
                                &o, mail_from, rcpts, n, msg->raw, msg->raw_len, res, &info);
        }
        if (r == RELAY_SMTP_OK) {
            for (size_t i = 0; i < n; i++) {
                out[i].code = res[i].code;
                (void)str_copy(out[i].status, sizeof(out[i].status), res[i].status);
                (void)str_copy(out[i].reply, sizeof(out[i].reply), res[i].reply);
                (void)str_copy(out[i].host, sizeof(out[i].host), label);
                (void)str_copy(out[i].tls, sizeof(out[i].tls), info.tls);
            }
            free(res);
            return 1;
        }
        fmt_trunc(last, lastlen, "%s: %s", label, info.reply);
        log_info("delivery attempt failed; trying the next host", "host", label,
                 "error", info.reply, "queue_id", msg->queue_id);
    }
    if (naddrs == 0)
        snprintf(last, lastlen, "%s: no addresses", host);
    free(res);
    return 0;
}

static void transport_all(relay_outcome *out, size_t n, int code, const char *status,
                          const char *reply, const char *host)
{
    for (size_t i = 0; i < n; i++) {
        out[i].code = code;
        (void)str_copy(out[i].status, sizeof(out[i].status), status);
        (void)str_copy(out[i].reply, sizeof(out[i].reply), reply);
        (void)str_copy(out[i].host, sizeof(out[i].host), host);
        out[i].tls[0] = '\0';
    }
}

/* Every outcome carries an enhanced status code (for DSNs). */
static void transport_status_default(relay_outcome *o)
{
    if (o->code < 200 || o->code > 599) {
        o->code = 451;
        (void)str_copy(o->reply, sizeof(o->reply), "451 4.3.0 no answer recorded");
        o->status[0] = '\0';
    }
    if (o->status[0] == '\0')
        snprintf(o->status, sizeof(o->status), "%d.0.0", o->code / 100);
}

/* snprintf where truncation is intended (long remote text in a reply). */
static void fmt_trunc(char *out, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(out, len, fmt, ap);
    va_end(ap);
}
