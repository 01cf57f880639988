/*
 * milter_server.c - milter mode of mx: configuration, the libmilter
 * registration and its thread, the per-connection callbacks up to the end
 * of the message (envelope, headers, body into milter_msg.c), metrics and
 * the stop. The end of the message is milter_eom.c. See milter_server.h.
 *
 * SECURITY: the MTA is trusted as much as an SMTP client (it passes on
 * what its client sent): addresses, the number of recipients and the size
 * of the message are bounded (milter_msg.h), and every problem becomes a
 * reply to the MTA (smfi_setreply) or a tempfail, never a crash. The
 * socket should be loopback or a unix socket: the milter protocol has no
 * authentication.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "config.h"
#include "log.h"
#include "xalloc.h"
#include "milter_conn.h"
#include "milter_server.h"
#include "smtp_auth.h"

#define MILTER_RCPT_CACHE_MAX  100000
#define MILTER_HTTP_TIMEOUT_MS 5000
#define MILTER_DB_TIMEOUT_MS   10000
#define MILTER_NAME            "mailyard-mx"

/* libmilter passes no user pointer to callbacks (milter_server.h, "Global
 * state"): set once before smfi_main, read by the first callback of each
 * MTA connection. */
static milter_server *milter_server_current;

static int      milter_server_config(milter_server *ms, const config *cfg, char *err,
                                     size_t errlen);
static void    *milter_server_main(void *arg);
static milter_conn *milter_conn_get(SMFICTX *ctx);
static void     milter_conn_ip(milter_conn *c, SMFICTX *ctx, const struct sockaddr *sa);
static sfsistat milter_cb_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
                                    unsigned long f2, unsigned long f3, unsigned long *pf0,
                                    unsigned long *pf1, unsigned long *pf2,
                                    unsigned long *pf3);
static sfsistat milter_cb_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *sa);
static sfsistat milter_cb_helo(SMFICTX *ctx, char *helo);
static sfsistat milter_cb_envfrom(SMFICTX *ctx, char **argv);
static sfsistat milter_cb_envrcpt(SMFICTX *ctx, char **argv);
static sfsistat milter_cb_header(SMFICTX *ctx, char *name, char *value);
static sfsistat milter_cb_eoh(SMFICTX *ctx);
static sfsistat milter_cb_body(SMFICTX *ctx, unsigned char *p, size_t n);
static sfsistat milter_cb_eom(SMFICTX *ctx);
static sfsistat milter_cb_abort(SMFICTX *ctx);
static sfsistat milter_cb_close(SMFICTX *ctx);
static sfsistat milter_conn_too_big(SMFICTX *ctx, milter_conn *c);

static int milter_server_config(milter_server *ms, const config *cfg, char *err,
                                size_t errlen)
{
    const char *host = config_get(cfg, "MAILYARD_HOSTNAME", NULL);
    char sysname[256] = "localhost";
    if (host == NULL && gethostname(sysname, sizeof sysname) == 0)
        sysname[sizeof sysname - 1] = '\0';
    if (str_copy(ms->hostname, sizeof ms->hostname, host ? host : sysname) != 0 ||
        !smtp_helo_valid(ms->hostname)) {
        snprintf(err, errlen, "MAILYARD_HOSTNAME is not a valid host name");
        return -1;
    }
    const char *sock = config_get(cfg, "MAILYARD_MILTER_SOCKET", "inet:8891@127.0.0.1");
    if (*sock == '\0' || str_copy(ms->socket_spec, sizeof ms->socket_spec, sock) != 0 ||
        !(strncmp(sock, "inet:", 5) == 0 || strncmp(sock, "inet6:", 6) == 0 ||
          strncmp(sock, "unix:", 5) == 0 || strncmp(sock, "local:", 6) == 0)) {
        snprintf(err, errlen, "MAILYARD_MILTER_SOCKET must be inet:PORT@HOST, "
                 "inet6:PORT@HOST or unix:PATH");
        return -1;
    }
    const char *handoff = config_get(cfg, "MAILYARD_MILTER_HANDOFF", "off");
    if (strcasecmp(handoff, "on") != 0 && strcasecmp(handoff, "off") != 0) {
        snprintf(err, errlen, "MAILYARD_MILTER_HANDOFF must be on or off");
        return -1;
    }
    ms->handoff = strcasecmp(handoff, "on") == 0;
    long max_size = config_get_long(cfg, "MAILYARD_SMTP_MAX_MESSAGE_SIZE", 26214400);
    long max_rcpts = config_get_long(cfg, "MAILYARD_SMTP_MAX_RECIPIENTS", 100);
    long drain = config_get_long(cfg, "MAILYARD_SMTP_DRAIN_SECONDS", 30);
    long timeout = config_get_long(cfg, "MAILYARD_SMTP_TIMEOUT_SECONDS", 300);
    long ttl = config_get_long(cfg, "MAILYARD_MX_RCPT_CACHE_SECONDS", 30);
    if (max_size < 1 || max_size > 1L << 30 || max_rcpts < 1 || max_rcpts > 100000 ||
        drain < 0 || timeout < 1 || timeout > 86400 || ttl < 0) {
        snprintf(err, errlen, "a MAILYARD_SMTP_* limit is out of range");
        return -1;
    }
    ms->max_size = (size_t)max_size;
    ms->max_rcpts = (size_t)max_rcpts;
    ms->drain_s = (int)drain;
    ms->rewrite_url = config_get(cfg, "MAILYARD_REWRITE_URL", "http://127.0.0.1:9102");
    ms->cache = rcpt_cache_create((int)ttl, MILTER_RCPT_CACHE_MAX);
    if (smfi_setconn(ms->socket_spec) != MI_SUCCESS ||
        smfi_settimeout((int)timeout) != MI_SUCCESS) {
        snprintf(err, errlen, "libmilter refused MAILYARD_MILTER_SOCKET");
        return -1;
    }
    return 0;
}

milter_server *milter_server_start(service *svc, char *err, size_t errlen)
{
    if (milter_server_current != NULL) {
        snprintf(err, errlen, "one milter server per process");
        return NULL;
    }
    milter_server *ms = xcalloc(1, sizeof *ms);
    ms->svc = svc;
    metrics_registry *mr = svc->metrics;
    if (milter_server_config(ms, svc->cfg, err, errlen) != 0)
        goto fail;
    static const char *const code_label[] = { "code", NULL };
    static const char *const reason_label[] = { "reason", NULL };
    static const char *const verdict_label[] = { "verdict", NULL };
    static const double accept_bounds[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                            1, 2.5, 5, 10 };
    ms->m_conns_total = metrics_counter(mr, "mailyard_smtp_connections_total",
                                        "SMTP connections accepted (milter mode: MTA "
                                        "connections)", NULL);
    ms->m_conns = metrics_gauge(mr, "mailyard_smtp_connections",
                                "SMTP connections open now (milter mode: MTA "
                                "connections)", NULL);
    ms->m_replies = metrics_counter(mr, "mailyard_smtp_replies_total",
                                    "SMTP replies sent, by reply code (milter mode: the "
                                    "refusals we ask the MTA to send)", code_label);
    ms->m_rejections = metrics_counter(mr, "mailyard_smtp_rejections_total",
                                       "4xx/5xx replies, by reason (enhanced status code "
                                       "or check)", reason_label);
    ms->m_verdicts = metrics_counter(mr, "mailyard_milter_verdicts_total",
                                     "end-of-message verdicts given to the MTA (accept, "
                                     "reject, tempfail, discard)", verdict_label);
    ms->cenv.db = svc->db;
    ms->cenv.hostname = ms->hostname;
    ms->cenv.db_timeout_ms = MILTER_DB_TIMEOUT_MS;
    ms->cenv.accepted = metrics_counter(mr, "mailyard_smtp_messages_accepted_total",
                                        "messages committed to the spool", NULL);
    ms->cenv.accept_seconds = metrics_histogram(mr, "mailyard_smtp_accept_seconds",
                                                "end of DATA to the 250 reply (milter "
                                                "mode: to the verdict)", NULL,
                                                accept_bounds,
                                                sizeof accept_bounds / sizeof accept_bounds[0]);
    if (smtp_auth_create(svc->cfg, ms->hostname, mr, &ms->cenv.auth, err, errlen) != 0)
        goto fail;
    if (smtp_dnsbl_create(svc->cfg, ms->cenv.auth ? smtp_auth_resolver(ms->cenv.auth) : NULL,
                          &ms->dnsbl, err, errlen) != 0)
        goto fail;

    struct smfiDesc desc = {
        .xxfi_name = MILTER_NAME,
        .xxfi_version = SMFI_VERSION,
        .xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS,
        .xxfi_connect = milter_cb_connect,
        .xxfi_helo = milter_cb_helo,
        .xxfi_envfrom = milter_cb_envfrom,
        .xxfi_envrcpt = milter_cb_envrcpt,
        .xxfi_header = milter_cb_header,
        .xxfi_eoh = milter_cb_eoh,
        .xxfi_body = milter_cb_body,
        .xxfi_eom = milter_cb_eom,
        .xxfi_abort = milter_cb_abort,
        .xxfi_close = milter_cb_close,
        .xxfi_negotiate = milter_cb_negotiate,
    };
    if (smfi_register(desc) != MI_SUCCESS) {
        snprintf(err, errlen, "smfi_register failed");
        goto fail;
    }
    if (smfi_opensocket(1) != MI_SUCCESS) {      /* 1: remove a stale unix socket */
        snprintf(err, errlen, "cannot open MAILYARD_MILTER_SOCKET %s", ms->socket_spec);
        goto fail;
    }
    pthread_condattr_t ca;
    if (pthread_mutex_init(&ms->lock, NULL) != 0 || pthread_condattr_init(&ca) != 0 ||
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&ms->cond, &ca) != 0)
        fatal("milter server: pthread init failed");
    pthread_condattr_destroy(&ca);
    milter_server_current = ms;
    if (pthread_create(&ms->thread, NULL, milter_server_main, ms) != 0) {
        snprintf(err, errlen, "cannot start the milter thread");
        milter_server_current = NULL;
        pthread_cond_destroy(&ms->cond);
        pthread_mutex_destroy(&ms->lock);
        goto fail;
    }
    log_info("milter listening", "socket", ms->socket_spec, "hostname", ms->hostname,
             "handoff", ms->handoff ? "on" : "off");
    return ms;
fail:
    rcpt_cache_free(ms->cache);
    smtp_dnsbl_free(ms->dnsbl);
    smtp_auth_free(ms->cenv.auth);
    free(ms);
    return NULL;
}

/* The libmilter thread. When smfi_main returns without milter_server_stop
 * (libmilter's own signal thread took SIGTERM/SIGHUP/SIGINT, or the
 * listener failed), the whole service stops. */
static void *milter_server_main(void *arg)
{
    milter_server *ms = arg;
    int rc = smfi_main();
    atomic_store(&ms->main_done, 1);
    if (!atomic_load(&ms->stopping)) {
        log_error("milter listener ended; stopping the service",
                  "result", rc == MI_SUCCESS ? "stopped" : "failure");
        shutdown_request(&ms->svc->shutdown);
    }
    return NULL;
}

void milter_server_stop(milter_server *ms)
{
    if (ms == NULL)
        return;
    atomic_store(&ms->stopping, 1);
    (void)smfi_stop();
    pthread_join(ms->thread, NULL);
    const char *path = strchr(ms->socket_spec, ':') + 1;     /* checked at start */
    if ((strncmp(ms->socket_spec, "unix:", 5) == 0 ||
         strncmp(ms->socket_spec, "local:", 6) == 0) && unlink(path) != 0)
        log_warn("cannot remove the milter socket", "path", path);
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += ms->drain_s;
    pthread_mutex_lock(&ms->lock);
    while (ms->nconns > 0 &&
           pthread_cond_timedwait(&ms->cond, &ms->lock, &deadline) == 0)
        ;
    long left = ms->nconns;
    pthread_mutex_unlock(&ms->lock);
    if (left > 0) {
        /* libmilter offers no way to end its connection threads: keep the
         * state they use alive; the process exits right after this. */
        log_warn("milter stopped with MTA connections still open");
        return;
    }
    log_info("milter stopped");
    milter_server_current = NULL;
    rcpt_cache_free(ms->cache);
    smtp_dnsbl_free(ms->dnsbl);
    smtp_auth_free(ms->cenv.auth);
    pthread_cond_destroy(&ms->cond);
    pthread_mutex_destroy(&ms->lock);
    free(ms);
}

void milter_conn_refuse(SMFICTX *ctx, milter_conn *c, const char *code, const char *xcode,
                        const char *text, const char *reason)
{
    if (smfi_setreply(ctx, (char *)code, (char *)xcode, (char *)text) != MI_SUCCESS)
        log_warn("milter reply not set", "client", c->ip, "code", code);
    metrics_counter_inc(c->srv->m_replies, code);
    metrics_counter_inc(c->srv->m_rejections, reason);
    log_info("milter rejection", "client", c->ip, "helo", c->helo, "code", code,
             "reason", xcode, "text", text);
}

/* The connection's state, created by its first callback. NULL only when
 * the server is stopping (the caller tempfails). */
static milter_conn *milter_conn_get(SMFICTX *ctx)
{
    milter_conn *c = smfi_getpriv(ctx);
    if (c != NULL)
        return c;
    milter_server *ms = milter_server_current;
    if (ms == NULL || atomic_load(&ms->stopping))
        return NULL;
    c = xcalloc(1, sizeof *c);
    c->srv = ms;
    c->no = atomic_fetch_add(&ms->seq, 1) + 1;
    if (smfi_setpriv(ctx, c) != MI_SUCCESS) {
        free(c);
        return NULL;
    }
    pthread_mutex_lock(&ms->lock);
    ms->nconns++;
    pthread_mutex_unlock(&ms->lock);
    c->counted = 1;
    metrics_counter_inc(ms->m_conns_total);
    metrics_gauge_add(ms->m_conns, 1);
    return c;
}

static sfsistat milter_cb_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
                                    unsigned long f2, unsigned long f3, unsigned long *pf0,
                                    unsigned long *pf1, unsigned long *pf2,
                                    unsigned long *pf3)
{
    (void)f2;
    (void)f3;
    milter_conn *c = milter_conn_get(ctx);
    if (c == NULL)
        return SMFIS_TEMPFAIL;
    unsigned long want = SMFIF_ADDHDRS | SMFIF_CHGHDRS;
    if ((f0 & want) != want) {
        log_error("the MTA does not allow adding and changing headers");
        (void)milter_cb_close(ctx);          /* close may not follow a refusal */
        return SMFIS_REJECT;                 /* libmilter: do not use this milter */
    }
    *pf0 = want;
    /* header values byte for byte (DKIM simple canonicalization) */
    c->leadspc = (f1 & SMFIP_HDR_LEADSPC) != 0;
    *pf1 = f1 & SMFIP_HDR_LEADSPC;
    *pf2 = 0;
    *pf3 = 0;
    return SMFIS_CONTINUE;
}

/* The client address: from the socket address the MTA passes, else the
 * {client_addr} macro; IPv4-mapped IPv6 shortened. */
static void milter_conn_ip(milter_conn *c, SMFICTX *ctx, const struct sockaddr *sa)
{
    c->ip[0] = '\0';
    if (sa != NULL && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        if (inet_ntop(AF_INET, &in->sin_addr, c->ip, sizeof c->ip) == NULL)
            c->ip[0] = '\0';
    } else if (sa != NULL && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        if (inet_ntop(AF_INET6, &in6->sin6_addr, c->ip, sizeof c->ip) == NULL)
            c->ip[0] = '\0';
    }
    if (c->ip[0] == '\0') {
        const char *m = smfi_getsymval(ctx, "{client_addr}");
        if (m == NULL || str_copy(c->ip, sizeof c->ip, m) != 0)
            (void)str_copy(c->ip, sizeof c->ip, "unknown");
    }
    if (strncasecmp(c->ip, "::ffff:", 7) == 0 && strchr(c->ip + 7, '.') != NULL)
        memmove(c->ip, c->ip + 7, strlen(c->ip + 7) + 1);
}

static sfsistat milter_cb_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *sa)
{
    milter_conn *c = milter_conn_get(ctx);
    if (c == NULL)
        return SMFIS_TEMPFAIL;
    milter_conn_ip(c, ctx, sa);
    char no[24];
    snprintf(no, sizeof no, "%lu", c->no);
    log_info("milter connection", "client", c->ip, "client_name",
             hostname != NULL ? hostname : "", "conn", no);
    return SMFIS_CONTINUE;
}

static sfsistat milter_cb_helo(SMFICTX *ctx, char *helo)
{
    milter_conn *c = milter_conn_get(ctx);
    if (c == NULL)
        return SMFIS_TEMPFAIL;
    if (helo == NULL || str_copy(c->helo, sizeof c->helo, helo) != 0)
        c->helo[0] = '\0';                   /* over-long: kept out of headers */
    return SMFIS_CONTINUE;
}

static sfsistat milter_cb_envfrom(SMFICTX *ctx, char **argv)
{
    milter_conn *c = milter_conn_get(ctx);
    if (c == NULL)
        return SMFIS_TEMPFAIL;
    milter_msg_free(c->msg);
    c->msg = milter_msg_create(c->srv->max_size, c->srv->max_rcpts);
    if (argv == NULL || milter_msg_set_from(c->msg, argv[0]) != 0) {
        milter_conn_refuse(ctx, c, "553", "5.1.7", "Bad sender address syntax", "5.1.7");
        milter_msg_free(c->msg);
        c->msg = NULL;
        return SMFIS_REJECT;
    }
    return SMFIS_CONTINUE;
}

static sfsistat milter_cb_envrcpt(SMFICTX *ctx, char **argv)
{
    milter_conn *c = milter_conn_get(ctx);
    if (c == NULL || c->msg == NULL)
        return SMFIS_TEMPFAIL;
    milter_server *ms = c->srv;
    if (ms->dnsbl != NULL && !c->dnsbl_done) {   /* once per connection */
        c->dnsbl_done = 1;
        c->dnsbl_listed = smtp_dnsbl_check(ms->dnsbl, c->ip, c->dnsbl_zones,
                                           sizeof c->dnsbl_zones);
    }
    if (c->dnsbl_listed) {
        char text[448];
        snprintf(text, sizeof text, "Service unavailable; client [%s] listed by %s",
                 c->ip, c->dnsbl_zones);
        milter_conn_refuse(ctx, c, "554", "5.7.1", text, "dnsbl");
        return SMFIS_REJECT;
    }
    char addr[SMTP_PATH_MAX + 1];
    if (argv == NULL || milter_msg_addr(argv[0], addr, sizeof addr) != 0 || addr[0] == '\0') {
        milter_conn_refuse(ctx, c, "553", "5.1.3", "Bad recipient address syntax", "5.1.3");
        return SMFIS_REJECT;
    }
    if (ms->handoff) {                       /* the pipeline must know the recipient */
        if (c->http == NULL)
            c->http = httpc_create(ms->rewrite_url, ms->svc->admin_token,
                                   MILTER_HTTP_TIMEOUT_MS);
        switch (rcpt_check(c->http, ms->cache, addr)) {
        case SMTP_RCPT_ACCEPT:
            break;
        case SMTP_RCPT_UNKNOWN:
            milter_conn_refuse(ctx, c, "550", "5.1.1", "Recipient address rejected: "
                               "User unknown", "5.1.1");
            return SMFIS_REJECT;
        case SMTP_RCPT_RELAY_DENIED:
            milter_conn_refuse(ctx, c, "554", "5.7.1", "Relay access denied", "5.7.1");
            return SMFIS_REJECT;
        default:
            milter_conn_refuse(ctx, c, "451", "4.4.3", "Recipient check failed "
                               "temporarily, try again later", "4.4.3");
            return SMFIS_TEMPFAIL;
        }
    }
    int rc = milter_msg_add_rcpt(c->msg, argv[0]);
    if (rc == -2) {
        milter_conn_refuse(ctx, c, "452", "4.5.3", "Too many recipients", "4.5.3");
        return SMFIS_TEMPFAIL;
    }
    if (rc != 0) {
        milter_conn_refuse(ctx, c, "553", "5.1.3", "Bad recipient address syntax", "5.1.3");
        return SMFIS_REJECT;
    }
    return SMFIS_CONTINUE;
}

/* The message passed MAILYARD_SMTP_MAX_MESSAGE_SIZE. */
static sfsistat milter_conn_too_big(SMFICTX *ctx, milter_conn *c)
{
    milter_conn_refuse(ctx, c, "552", "5.3.4", "Message size exceeds fixed limit", "5.3.4");
    milter_msg_free(c->msg);
    c->msg = NULL;
    return SMFIS_REJECT;
}

static sfsistat milter_cb_header(SMFICTX *ctx, char *name, char *value)
{
    milter_conn *c = milter_conn_get(ctx);
    if (c == NULL || c->msg == NULL)
        return SMFIS_TEMPFAIL;
    if (milter_msg_header(c->msg, name, value, c->leadspc) != 0)
        return milter_conn_too_big(ctx, c);
    return SMFIS_CONTINUE;
}

static sfsistat milter_cb_eoh(SMFICTX *ctx)
{
    milter_conn *c = milter_conn_get(ctx);
    if (c == NULL || c->msg == NULL)
        return SMFIS_TEMPFAIL;
    if (milter_msg_eoh(c->msg) != 0)
        return milter_conn_too_big(ctx, c);
    return SMFIS_CONTINUE;
}

static sfsistat milter_cb_body(SMFICTX *ctx, unsigned char *p, size_t n)
{
    milter_conn *c = milter_conn_get(ctx);
    if (c == NULL || c->msg == NULL)
        return SMFIS_TEMPFAIL;
    if (milter_msg_body(c->msg, p, n) != 0)
        return milter_conn_too_big(ctx, c);
    return SMFIS_CONTINUE;
}

static sfsistat milter_cb_eom(SMFICTX *ctx)
{
    milter_conn *c = milter_conn_get(ctx);
    if (c == NULL || c->msg == NULL)
        return SMFIS_TEMPFAIL;
    sfsistat v = milter_eom_run(ctx, c);
    milter_msg_free(c->msg);
    c->msg = NULL;
    metrics_counter_inc(c->srv->m_verdicts, v == SMFIS_REJECT ? "reject"
                        : v == SMFIS_TEMPFAIL ? "tempfail"
                        : v == SMFIS_DISCARD ? "discard" : "accept");
    return v;
}

static sfsistat milter_cb_abort(SMFICTX *ctx)
{
    milter_conn *c = smfi_getpriv(ctx);
    if (c != NULL) {
        milter_msg_free(c->msg);
        c->msg = NULL;
    }
    return SMFIS_CONTINUE;
}

static sfsistat milter_cb_close(SMFICTX *ctx)
{
    milter_conn *c = smfi_getpriv(ctx);
    if (c == NULL)
        return SMFIS_CONTINUE;
    (void)smfi_setpriv(ctx, NULL);
    milter_server *ms = c->srv;
    milter_msg_free(c->msg);
    httpc_free(c->http);
    jobq_free(c->q);
    int counted = c->counted;
    free(c);
    if (counted) {
        metrics_gauge_add(ms->m_conns, -1);
        pthread_mutex_lock(&ms->lock);
        ms->nconns--;
        pthread_cond_broadcast(&ms->cond);
        pthread_mutex_unlock(&ms->lock);
    }
    return SMFIS_CONTINUE;
}
