/*
 * relay_transport.c - one delivery attempt for a group of recipients in the
 * same domain, by the route of the transport map (relay_tmap.h: mx,
 * smarthost or lmtp, with its TLS policy and AUTH credentials) or else the
 * configured transport: "mx" (DNS MX with implicit-MX fallback, RFC 5321
 * §5.1), "smarthost" (one next hop for everything) or "maildir" (local
 * files). Turns every failure into a per-recipient
 * outcome: 2xx delivered, 4xx deferred, 5xx bounced. Owns nothing beyond
 * the call.
 */
#include "relay.h"
#include "relay_dns.h"
#include "relay_maildir.h"
#include "relay_tmap.h"
#include "relay_conn.h"
#include "relay_mtasts.h"
#include "relay_dane.h"
#include "relay_tlsrpt.h"
#include "relay_dpol.h"

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
/* The sessions of an mx attempt that failed before the one that ended it
 * (each address tried), for TLS-RPT: RFC 8460 counts sessions, so a first
 * MX whose certificate does not verify is a failure even when the second
 * takes the mail. Owned by transport_mx. */
typedef struct transport_tried {
    relay_outcome *o;     /* owned array */
    size_t         n, cap;
} transport_tried;

static int  transport_try_addrs(relay_conn_pool *pool, const relay_smtp_opts *base,
                                const char *host,
                                const relay_addr *addrs, size_t naddrs,
                                const spool_message *msg, const char *mail_from,
                                const char *const *rcpts, size_t n,
                                relay_outcome *out, char *last, size_t lastlen,
                                transport_tried *tried);
static void transport_mx(relay_state *st, const relay_smtp_opts *o, const spool_message *msg,
                         const char *mail_from, const char *domain,
                         const char *const *rcpts, size_t n, relay_outcome *out);
static void transport_host(relay_conn_pool *pool, const relay_smtp_opts *o,
                           const char *hostname, int hport,
                           const spool_message *msg, const char *mail_from,
                           const char *const *rcpts, size_t n, relay_outcome *out);
static int  transport_mtasts(relay_state *st, const char *domain, relay_mx *mx, size_t *nmx,
                             relay_smtp_opts *o, relay_outcome *out, size_t n,
                             relay_sts_policy *pol);
static void transport_all(relay_outcome *out, size_t n, int code, const char *status,
                          const char *reply, const char *host);
static void transport_status_default(relay_outcome *o);
static void fmt_trunc(char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void relay_transport_deliver(relay_state *st, int thread_no, const spool_message *msg,
                             const char *mail_from, const char *domain,
                             const char *const *rcpts, size_t n, relay_outcome *out)
{
    relay_transport_deliver_dsn(st, thread_no, msg, mail_from, domain, rcpts, NULL, n, out);
}

void relay_transport_deliver_dsn(relay_state *st, int thread_no, const spool_message *msg,
                                 const char *mail_from, const char *domain,
                                 const char *const *rcpts, const relay_smtp_dsn *dsn,
                                 size_t n, relay_outcome *out)
{
    struct timespec t0, t1;

    memset(out, 0, n * sizeof(*out));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    relay_smtp_opts o = { .helo = st->helo, .timeout_s = st->timeout_s, .try_tls = 1,
                          .tls = st->tls_mode, .ca_file = st->ca_file, .dsn = dsn };
    const relay_route *rt = relay_tmap_find(st->tmap, mail_from, domain);
    if (rt != NULL) {
        if (rt->tls_set)
            o.tls = rt->tls;
        o.auth_user = rt->auth_user;
        o.auth_pass = rt->auth_pass;
        o.lmtp = (rt->kind == RELAY_ROUTE_LMTP);
    }
    if (rt == NULL && st->transport == RELAY_TRANSPORT_MAILDIR) {
        transport_maildir(st, thread_no, msg, mail_from, rcpts, n, out);
    } else {
        /* The destination whose concurrency is limited: the next hop of a
         * smarthost/LMTP route, else the recipient domain. */
        char dest[300];
        const char *hop = NULL;
        int hport = 0;
        if (rt != NULL && rt->kind != RELAY_ROUTE_MX) {
            hop = rt->host;
            hport = rt->port;
        } else if (rt == NULL && st->transport == RELAY_TRANSPORT_SMARTHOST) {
            hop = st->smarthost;
            hport = st->smarthost_port;
        }
        if (hop != NULL)
            snprintf(dest, sizeof(dest), "[%s]:%d", hop, hport);
        else
            fmt_trunc(dest, sizeof(dest), "%s", domain);
        /* A domain policy (relay_dpol.h) sets the limit: its slow-start window. */
        int limit = 0;
        int policy = relay_dpol_window(st->dpol, domain, &limit);
        if (relay_conn_dest_acquire_n(st->conns, dest, policy ? limit : 0, st->timeout_s) != 0) {
            char reply[RELAY_SMTP_REPLY_MAX];
            fmt_trunc(reply, sizeof(reply), "451 4.4.5 too many concurrent deliveries to %s "
                      "(%s); will retry", dest, policy ? "MAILYARD_RELAY_DOMAIN_POLICY"
                                                       : "MAILYARD_RELAY_DEST_CONCURRENCY");
            transport_all(out, n, 451, "4.4.5", reply, "");
        } else {
            if (hop != NULL)
                transport_host(st->conns, &o, hop, hport, msg, mail_from, rcpts, n, out);
            else
                transport_mx(st, &o, msg, mail_from, domain, rcpts, n, out);
            relay_conn_dest_release(st->conns, dest);
            if (policy) {
                int delivered = 0, tempfail = 0;
                for (size_t i = 0; i < n; i++) {
                    delivered += out[i].code / 100 == 2;
                    tempfail += out[i].code / 100 == 4;
                }
                relay_dpol_feedback(st->dpol, domain, delivered, tempfail);
            }
        }
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
            out[i].mailbox = 1;
            (void)str_copy(out[i].status, sizeof(out[i].status), "2.0.0");
            fmt_trunc(out[i].reply, sizeof(out[i].reply), "250 2.0.0 delivered to maildir as %s",
                     name);
        }
        (void)str_copy(out[i].host, sizeof(out[i].host), host);
        err[0] = '\0';
        name[0] = '\0';
    }
}

static void transport_mx(relay_state *st, const relay_smtp_opts *o, const spool_message *msg,
                         const char *mail_from, const char *domain,
                         const char *const *rcpts, size_t n, relay_outcome *out)
{
    relay_mx mx[RELAY_DNS_MAX_MX];
    relay_addr addrs[RELAY_DNS_MAX_ADDRS];
    size_t nmx = 0, naddrs = 0;
    char err[512] = "", last[RELAY_SMTP_REPLY_MAX + 64] = "", reply[RELAY_SMTP_REPLY_MAX];
    transport_tried tried = { 0 };

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
    /* DANE (relay_dane.h) wins over MTA-STS */
    relay_dane *dane = relay_dane_create(st->dns, st->smtp_port, domain, mx, nmx);
    relay_smtp_opts sts_o = *o;
    relay_sts_policy sts = { .mode = RELAY_STS_NONE };
    if (!relay_dane_active(dane) &&
        transport_mtasts(st, domain, mx, &nmx, &sts_o, out, n, &sts) != 0)
        goto done;
    o = &sts_o;
    int implicit = (nmx == 1 && strcmp(mx[0].host, domain) == 0), dane_failed = 0;
    enum relay_dns_status last_addr_status = RELAY_DNS_OK;
    for (size_t m = 0; m < nmx; m++) {
        relay_smtp_opts host_o = *o;
        if (relay_dane_host_opts(dane, m, domain, &host_o, last, sizeof(last)) != 0) {
            dane_failed = 1;
            continue;
        }
        ds = relay_dns_addrs(st->dns, mx[m].host, st->smtp_port, addrs, &naddrs,
                             err, sizeof(err));
        last_addr_status = ds;
        if (ds != RELAY_DNS_OK) {
            fmt_trunc(last, sizeof(last), "%s", err);
            continue;
        }
        if (transport_try_addrs(st->conns, &host_o, mx[m].host, addrs, naddrs, msg, mail_from,
                                rcpts, n, out, last, sizeof(last), &tried))
            goto done;
        dane_failed |= relay_dane_host_state(dane, m) != RELAY_DANE_NONE;
    }
    if (implicit && !dane_failed && (last_addr_status == RELAY_DNS_NXDOMAIN ||
                                     last_addr_status == RELAY_DNS_NODATA)) {
        fmt_trunc(reply, sizeof(reply), "550 5.1.2 no MX or address records for %s", domain);
        transport_all(out, n, 550, "5.1.2", reply, "");
        goto done;
    }
    fmt_trunc(reply, sizeof(reply), "451 %s no MX host of %s answered: %s",
              dane_failed ? "4.7.5" : "4.4.1", domain, last);
    transport_all(out, n, 451, dane_failed ? "4.7.5" : "4.4.1", reply, "");
    for (size_t i = 0; dane_failed && i < n; i++)
        fmt_trunc(out[i].dane, sizeof(out[i].dane), "failed: %s", last);
done:
    /* TLS-RPT: one session per address tried. When no address took the
     * mail, the final outcome only sums up the ones counted here. An
     * announced policy that could not be had stays one count per attempt. */
    if (sts.failure == NULL || relay_dane_active(dane) || sts.mode != RELAY_STS_NONE) {
        for (size_t t = 0; t < tried.n; t++)
            relay_tlsrpt_note(st, domain, dane, &sts, &tried.o[t], 1);
    }
    if (tried.n == 0 || out[0].host[0] != '\0' ||
        (sts.failure != NULL && !relay_dane_active(dane) && sts.mode == RELAY_STS_NONE))
        relay_tlsrpt_note(st, domain, dane, &sts, out, n);
    free(tried.o);
    relay_dane_free(dane);
}

/* One next hop (smarthost or LMTP server), resolved with getaddrinfo. */
static void transport_host(relay_conn_pool *pool, const relay_smtp_opts *o,
                           const char *hostname, int hport,
                           const spool_message *msg, const char *mail_from,
                           const char *const *rcpts, size_t n, relay_outcome *out)
{
    struct addrinfo hints, *res = NULL;
    relay_addr addrs[RELAY_DNS_MAX_ADDRS];
    size_t naddrs = 0;
    char port[16], reply[RELAY_SMTP_REPLY_MAX], last[RELAY_SMTP_REPLY_MAX + 64] = "";

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%d", hport);
    int rc = getaddrinfo(hostname, port, &hints, &res);
    if (rc != 0) {
        fmt_trunc(reply, sizeof(reply), "451 4.4.3 cannot resolve %s %s: %s",
                 o->lmtp ? "LMTP server" : "smarthost", hostname, gai_strerror(rc));
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
    if (transport_try_addrs(pool, o, hostname, addrs, naddrs, msg, mail_from, rcpts, n, out,
                            last, sizeof(last), NULL))
        return;
    fmt_trunc(reply, sizeof(reply), "451 4.4.1 %s %s did not answer: %s",
             o->lmtp ? "LMTP server" : "smarthost", hostname, last);
    transport_all(out, n, 451, "4.4.1", reply, "");
}

/* Tries each address in turn. Returns 1 when one of them gave final
 * per-recipient answers (out filled), 0 when all failed (last describes the
 * last failure). */
static int transport_try_addrs(relay_conn_pool *pool, const relay_smtp_opts *base,
                               const char *host, const relay_addr *addrs, size_t naddrs,
                               const spool_message *msg, const char *mail_from,
                               const char *const *rcpts, size_t n,
                               relay_outcome *out, char *last, size_t lastlen,
                               transport_tried *tried)
{
    relay_smtp_rcpt *res = xcalloc(n, sizeof(*res));
    relay_smtp_info info;
    relay_smtp_opts o = *base;
    char label[320], key[RELAY_CONN_KEY_MAX];

    for (size_t a = 0; a < naddrs; a++) {
        int port = addrs[a].sa.ss_family == AF_INET6
                       ? ntohs(((const struct sockaddr_in6 *)&addrs[a].sa)->sin6_port)
                       : ntohs(((const struct sockaddr_in *)&addrs[a].sa)->sin_port);
        snprintf(label, sizeof(label), "%s[%s]:%d", host, addrs[a].text, port);
        /* Sessions are shared only between identical settings; an
         * authenticated one only within its route (the credentials' address
         * identifies the route's entry, so the secret is not in the key). */
        fmt_trunc(key, sizeof(key), "%s|tls=%d|lmtp=%d|auth=%s@%p|ca=%s|dane=%zu", label,
                  (int)o.tls, o.lmtp, o.auth_user ? o.auth_user : "", (const void *)o.auth_pass,
                  o.ca_file ? o.ca_file : "", o.ntlsa);
        o.try_tls = 1;
        enum relay_smtp_result r = RELAY_SMTP_TRYNEXT;
        relay_smtp_session *sess = relay_conn_take(pool, key);
        if (sess != NULL && relay_smtp_reset(sess) != 0) {
            relay_smtp_close(sess);       /* the server closed it meanwhile */
            sess = NULL;
        }
        if (sess != NULL) {
            relay_conn_count_reuse(pool);
            log_debug("reusing a connection", "host", label, "queue_id", msg->queue_id);
        } else {
            r = relay_smtp_open((const struct sockaddr *)&addrs[a].sa, addrs[a].len, host, &o,
                                &sess, &info);
            if (r == RELAY_SMTP_TLSFAIL) {
                log_warn("STARTTLS failed; retrying without TLS", "host", label,
                         "error", info.reply);
                o.try_tls = 0;
                r = relay_smtp_open((const struct sockaddr *)&addrs[a].sa, addrs[a].len, host,
                                    &o, &sess, &info);
            }
        }
        if (sess != NULL)
            r = relay_smtp_txn_dsn(sess, mail_from, o.dsn, rcpts, n, msg->raw, msg->raw_len,
                                   res, &info);
        if (sess != NULL && o.try_tls == 0)
            relay_smtp_close(sess);       /* a plain-text fallback is not cached */
        else
            relay_conn_put(pool, key, sess);
        if (r == RELAY_SMTP_OK) {
            for (size_t i = 0; i < n; i++) {
                out[i].code = res[i].code;
                (void)str_copy(out[i].status, sizeof(out[i].status), res[i].status);
                (void)str_copy(out[i].reply, sizeof(out[i].reply), res[i].reply);
                (void)str_copy(out[i].host, sizeof(out[i].host), label);
                (void)str_copy(out[i].tls, sizeof(out[i].tls), info.tls);
                (void)str_copy(out[i].tls_verify, sizeof(out[i].tls_verify), info.tls_verify);
                (void)str_copy(out[i].dane, sizeof(out[i].dane), info.dane);
                out[i].dsn_passed = info.dsn;
                out[i].mailbox = o.lmtp;
            }
            free(res);
            return 1;
        }
        fmt_trunc(last, lastlen, "%s: %s", label, info.reply);
        if (tried != NULL) {
            if (tried->n == tried->cap) {
                tried->cap = tried->cap ? tried->cap * 2 : 4;
                tried->o = xrealloc(tried->o, tried->cap * sizeof(*tried->o));
            }
            relay_outcome *t = &tried->o[tried->n++];
            memset(t, 0, sizeof(*t));
            t->code = info.code;
            (void)str_copy(t->reply, sizeof(t->reply), info.reply);
            (void)str_copy(t->host, sizeof(t->host), label);
        }
        log_info("delivery attempt failed; trying the next host", "host", label,
                 "error", info.reply, "queue_id", msg->queue_id);
    }
    if (naddrs == 0)
        snprintf(last, lastlen, "%s: no addresses", host);
    free(res);
    return 0;
}

/* Applies the domain's MTA-STS policy (relay_mtasts.h) to its MX list:
 * enforce keeps only the matching hosts and requires a verified
 * certificate; testing only logs. Returns -1 when the recipients were
 * deferred (no MX host allowed), else 0. */
static int transport_mtasts(relay_state *st, const char *domain, relay_mx *mx, size_t *nmx,
                            relay_smtp_opts *o, relay_outcome *out, size_t n,
                            relay_sts_policy *polout)
{
    relay_sts_policy pol;
    char why[512], refused[600] = "";
    size_t kept = 0, rl = 0;

    if (st->mtasts == NULL)
        return 0;
    relay_mtasts_get(st->mtasts, st->dns, domain, &pol, why, sizeof(why));
    if (why[0] != '\0')
        log_warn("MTA-STS: no fresh policy", "domain", domain, "error", why);
    *polout = pol;                        /* for TLS-RPT (relay_tlsrpt.h) */
    if (pol.mode == RELAY_STS_NONE)
        return 0;
    const char *mode = pol.mode == RELAY_STS_ENFORCE ? "enforce" : "testing";
    for (size_t i = 0; i < *nmx; i++) {
        if (relay_mtasts_mx_match(&pol, mx[i].host)) {
            mx[kept++] = mx[i];
            continue;
        }
        int w = snprintf(refused + rl, sizeof(refused) - rl, "%s%s", rl ? " " : "", mx[i].host);
        if (w > 0 && (size_t)w < sizeof(refused) - rl)
            rl += (size_t)w;
        log_warn(pol.mode == RELAY_STS_ENFORCE ? "MTA-STS: MX host not in the policy; skipped"
                                               : "MTA-STS (testing): MX host not in the policy",
                 "domain", domain, "mx", mx[i].host, "policy_id", pol.id);
    }
    if (pol.mode != RELAY_STS_ENFORCE)
        return 0;
    o->tls = RELAY_TLS_VERIFY;
    *nmx = kept;
    if (kept > 0)
        return 0;
    char reply[RELAY_SMTP_REPLY_MAX];
    fmt_trunc(reply, sizeof(reply), "451 4.7.5 MTA-STS policy of %s (mode %s, id %s) allows "
              "none of its MX hosts: %s", domain, mode, pol.id, refused);
    transport_all(out, n, 451, "4.7.5", reply, "");
    return -1;
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
        out[i].tls_verify[0] = '\0';
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
