/*
 * relay_smtp.c - the relay's blocking SMTP client transaction (see
 * relay_smtp.h). Owns the connection state of one relay_smtp_send() call.
 */
#include "relay_smtp.h"
#include "relay_dane.h"
#include "relay_dsnp.h"
#include "relay_reply.h"
#include "buf.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

enum sess_state { SESS_OK, SESS_QUIT, SESS_BROKEN };

typedef struct smtp_conn {
    int                fd;
    SSL_CTX           *ctx;       /* owned, NULL until STARTTLS */
    SSL               *ssl;       /* owned, NULL until STARTTLS */
    char               rbuf[4096];
    size_t             rpos, rlen;
    relay_reply_parser parser;
    char               err[256];  /* last I/O or protocol error */
} smtp_conn;

struct relay_smtp_session {
    smtp_conn       c;
    relay_ehlo      ehlo;           /* the server's extensions (after STARTTLS) */
    int             lmtp;
    enum sess_state state;          /* OK: in step, may be reused; QUIT: in step, do
                                       not reuse; BROKEN: close without QUIT */
    char            tls[128];
    char            tls_verify[160];
    char            dane[160];
    int             need_rset;      /* a transaction may be open: RSET before reuse */
};

static int  smtp_connect(smtp_conn *c, const struct sockaddr *addr, socklen_t alen,
                         int timeout_s);
static int  smtp_read_reply(smtp_conn *c, relay_reply *r);
static int  smtp_write(smtp_conn *c, const char *p, size_t n);
static int  smtp_cmd(smtp_conn *c, relay_reply *r, const char *fmt, ...)
                __attribute__((format(printf, 3, 4)));
static int  smtp_starttls(smtp_conn *c, const char *host, const relay_smtp_opts *o,
                          relay_smtp_info *info);
static void smtp_tls_verify_result(smtp_conn *c, relay_smtp_info *info);
static int  smtp_auth(smtp_conn *c, const relay_smtp_opts *o, const relay_ehlo *ehlo,
                      relay_smtp_info *info);
static int  smtp_b64(const char *in, size_t len, char *out, size_t outlen);
static void smtp_close(smtp_conn *c);
static int  smtp_data_abandon(smtp_conn *c);
static void smtp_quit(smtp_conn *c);
static void smtp_dsn_mail_params(const relay_smtp_dsn *d, char *out, size_t outlen);
static void smtp_dsn_rcpt_params(const relay_smtp_dsn *d, size_t i, char *out, size_t outlen);
static void smtp_info_reply(relay_smtp_info *info, const relay_reply *r);
static void smtp_info_io(relay_smtp_info *info, const smtp_conn *c, const char *stage);
static void smtp_rcpt_set(relay_smtp_rcpt *o, int code, const char *status,
                          const char *reply);
static void smtp_rcpt_from_reply(relay_smtp_rcpt *o, const relay_reply *r);
static int  smtp_has_8bit(const char *msg, size_t len);

enum relay_smtp_result relay_smtp_open(const struct sockaddr *addr, socklen_t alen,
                                       const char *host, const relay_smtp_opts *o,
                                       relay_smtp_session **out, relay_smtp_info *info)
{
    relay_smtp_session *sess = xcalloc(1, sizeof(*sess));
    smtp_conn *c = &sess->c;
    relay_reply r;
    enum relay_smtp_result res = RELAY_SMTP_TRYNEXT;
    int esmtp = 1;

    *out = NULL;
    memset(info, 0, sizeof(*info));
    c->fd = -1;
    sess->lmtp = o->lmtp;
    relay_reply_parser_init(&c->parser);

    if (smtp_connect(c, addr, alen, o->timeout_s) != 0) {
        smtp_info_io(info, c, "connect");
        goto fail;
    }
    if (smtp_read_reply(c, &r) != 0) {
        smtp_info_io(info, c, "greeting");
        goto fail;
    }
    if (r.code != 220) {
        smtp_info_reply(info, &r);
        goto quit;
    }
    const char *hello = o->lmtp ? "LHLO" : "EHLO";
    if (smtp_cmd(c, &r, "%s %s\r\n", hello, o->helo) != 0) {
        smtp_info_io(info, c, hello);
        goto fail;
    }
    if (r.code / 100 == 5 && !o->lmtp) {
        esmtp = 0;
        if (smtp_cmd(c, &r, "HELO %s\r\n", o->helo) != 0) {
            smtp_info_io(info, c, "HELO");
            goto fail;
        }
    }
    if (r.code != 250) {
        smtp_info_reply(info, &r);
        goto quit;
    }
    if (esmtp)
        relay_ehlo_parse(&r, &sess->ehlo);
    else
        memset(&sess->ehlo, 0, sizeof(sess->ehlo));

    int required = (o->tls != RELAY_TLS_MAY);
    if ((o->try_tls || required) && sess->ehlo.starttls) {
        if (smtp_cmd(c, &r, "STARTTLS\r\n") != 0) {
            smtp_info_io(info, c, "STARTTLS");
            goto fail;
        }
        if (r.code == 220) {
            if (smtp_starttls(c, host, o, info) != 0) {
                smtp_info_io(info, c, required ? "TLS is required but the handshake failed"
                                                : "TLS handshake");
                info->tls[0] = '\0';
                if (!required)
                    res = RELAY_SMTP_TLSFAIL;
                goto fail;
            }
            if (o->ntlsa > 0 && strcmp(info->tls_verify, "verified") != 0) {
                info->code = 0;
                snprintf(info->reply, sizeof(info->reply), "DANE: the certificate of %.200s "
                         "matches none of its TLSA records (%.150s)", host, info->dane);
                goto quit;
            }
            if (o->tls == RELAY_TLS_VERIFY && strcmp(info->tls_verify, "verified") != 0) {
                info->code = 0;
                snprintf(info->reply, sizeof(info->reply),
                         "TLS is required with a verified certificate but the certificate "
                         "of %.200s is %.150s", host, info->tls_verify);
                goto quit;
            }
            if (smtp_cmd(c, &r, "%s %s\r\n", hello, o->helo) != 0) {
                smtp_info_io(info, c, "EHLO after STARTTLS");
                goto fail;
            }
            if (r.code != 250) {
                smtp_info_reply(info, &r);
                goto quit;
            }
            relay_ehlo_parse(&r, &sess->ehlo);
        } else if (required) {
            char rr[RELAY_SMTP_REPLY_MAX];
            relay_reply_format(&r, rr, sizeof(rr));
            info->code = 0;
            snprintf(info->reply, sizeof(info->reply),
                     "TLS is required but STARTTLS was refused: %.400s", rr);
            goto quit;
        }
        /* any other answer: carry on in plain text (opportunistic) */
    } else if (required) {
        info->code = 0;
        snprintf(info->reply, sizeof(info->reply),
                 "TLS is required (%s) but %.200s does not offer STARTTLS",
                 o->ntlsa > 0 ? "DANE TLSA records" :
                 o->tls == RELAY_TLS_VERIFY ? "MAILYARD_RELAY_TLS=verify"
                                            : "MAILYARD_RELAY_TLS=encrypt", host);
        goto quit;
    }

    if (o->auth_user != NULL && smtp_auth(c, o, &sess->ehlo, info) != 0) {
        goto quit;
    }

    (void)str_copy(sess->tls, sizeof(sess->tls), info->tls);
    (void)str_copy(sess->tls_verify, sizeof(sess->tls_verify), info->tls_verify);
    (void)str_copy(sess->dane, sizeof(sess->dane), info->dane);
    sess->state = SESS_OK;
    *out = sess;
    return RELAY_SMTP_OK;
quit:
    smtp_quit(c);
fail:
    smtp_close(c);
    free(sess);
    return res;
}

enum relay_smtp_result relay_smtp_txn(relay_smtp_session *s, const char *mail_from,
                                      const char *const *rcpts, size_t n,
                                      const char *msg, size_t len,
                                      relay_smtp_rcpt *out, relay_smtp_info *info)
{
    return relay_smtp_txn_dsn(s, mail_from, NULL, rcpts, n, msg, len, out, info);
}

enum relay_smtp_result relay_smtp_txn_dsn(relay_smtp_session *s, const char *mail_from,
                                          const relay_smtp_dsn *dsn,
                                          const char *const *rcpts, size_t n,
                                          const char *msg, size_t len,
                                          relay_smtp_rcpt *out, relay_smtp_info *info)
{
    smtp_conn *c = &s->c;
    relay_reply r;
    const char *stage = "DATA";

    memset(info, 0, sizeof(*info));
    (void)str_copy(info->tls, sizeof(info->tls), s->tls);
    (void)str_copy(info->tls_verify, sizeof(info->tls_verify), s->tls_verify);
    (void)str_copy(info->dane, sizeof(info->dane), s->dane);
    for (size_t i = 0; i < n; i++)
        smtp_rcpt_set(&out[i], 0, "", "");
    if (s->state != SESS_OK) {
        snprintf(info->reply, sizeof(info->reply), "session not usable");
        return RELAY_SMTP_TRYNEXT;
    }
    s->state = SESS_BROKEN;   /* until this transaction ends in step */

    if (s->ehlo.size && s->ehlo.size_max > 0 && len > s->ehlo.size_max) {
        for (size_t i = 0; i < n; i++)
            smtp_rcpt_set(&out[i], 552, "5.3.4",
                          "552 5.3.4 message size exceeds the server's SIZE limit");
        s->state = SESS_OK;
        return RELAY_SMTP_OK;
    }
    char params[96] = "", dparams[800] = "";
    int pw = 0;
    if (s->ehlo.size)
        pw = snprintf(params, sizeof(params), " SIZE=%zu", len);
    if (pw >= 0 && (size_t)pw < sizeof(params) && s->ehlo.eightbitmime &&
        smtp_has_8bit(msg, len))
        (void)snprintf(params + pw, sizeof(params) - (size_t)pw, " BODY=8BITMIME");
    info->dsn = s->ehlo.dsn && !s->lmtp;
    if (info->dsn)
        smtp_dsn_mail_params(dsn, dparams, sizeof(dparams));
    /* RFC 2920: with PIPELINING the whole envelope and DATA go in one
     * write and the replies are read in order (one round trip instead of
     * two plus one per recipient); without it, one command at a time. */
    int pipe = s->ehlo.pipelining;
    buf *cmds = pipe ? buf_create(1u << 20) : NULL;
    if (pipe) {
        int ok = buf_printf(cmds, "MAIL FROM:<%s>%s%s\r\n", mail_from, params, dparams) == 0;
        for (size_t i = 0; ok && i < n; i++) {
            dparams[0] = '\0';
            if (info->dsn)
                smtp_dsn_rcpt_params(dsn, i, dparams, sizeof(dparams));
            ok = buf_printf(cmds, "RCPT TO:<%s>%s\r\n", rcpts[i], dparams) == 0;
        }
        ok = ok && buf_append(cmds, "DATA\r\n", 6) == 0;
        if (!ok || smtp_write(c, cmds->data, cmds->len) != 0 || smtp_read_reply(c, &r) != 0) {
            if (!ok)
                snprintf(c->err, sizeof(c->err), "envelope too long");
            buf_free(cmds);
            smtp_info_io(info, c, "MAIL FROM");
            return RELAY_SMTP_TRYNEXT;
        }
        buf_free(cmds);
    } else if (smtp_cmd(c, &r, "MAIL FROM:<%s>%s%s\r\n", mail_from, params, dparams) != 0) {
        smtp_info_io(info, c, "MAIL FROM");
        return RELAY_SMTP_TRYNEXT;
    }
    relay_reply mail = r;
    if (mail.code / 100 != 2) {
        /* Pipelined: the RCPT and DATA replies (refusals) still come. */
        if (pipe) {
            for (size_t i = 0; i <= n; i++)
                if (smtp_read_reply(c, &r) != 0) {
                    smtp_info_io(info, c, "MAIL FROM");
                    return RELAY_SMTP_TRYNEXT;
                }
            if (r.code == 354 && smtp_data_abandon(c) != 0) {
                smtp_info_io(info, c, "MAIL FROM");
                return RELAY_SMTP_TRYNEXT;
            }
        }
        if (mail.code / 100 == 4) {
            smtp_info_reply(info, &mail);
            s->state = SESS_QUIT;     /* the server is unhappy: do not reuse */
            return RELAY_SMTP_TRYNEXT;
        }
        for (size_t i = 0; i < n; i++)
            smtp_rcpt_from_reply(&out[i], &mail);
        s->state = SESS_OK;
        s->need_rset = 1;
        return RELAY_SMTP_OK;
    }

    /* From here on every recipient gets a final answer. */
    size_t accepted = 0;
    for (size_t i = 0; i < n; i++) {
        dparams[0] = '\0';
        if (!pipe && info->dsn)
            smtp_dsn_rcpt_params(dsn, i, dparams, sizeof(dparams));
        if (pipe ? smtp_read_reply(c, &r) != 0
                 : smtp_cmd(c, &r, "RCPT TO:<%s>%s\r\n", rcpts[i], dparams) != 0) {
            char why[RELAY_SMTP_REPLY_MAX];
            snprintf(why, sizeof(why), "451 4.4.2 lost connection after RCPT: %s", c->err);
            for (size_t j = 0; j < n; j++)
                if (out[j].code == 0 || out[j].code / 100 == 2)
                    smtp_rcpt_set(&out[j], 451, "4.4.2", why);
            return RELAY_SMTP_OK;
        }
        smtp_rcpt_from_reply(&out[i], &r);
        if (r.code / 100 == 2)
            accepted++;
        else if (r.code / 100 == 3)   /* nonsense at RCPT: treat as transient */
            smtp_rcpt_set(&out[i], 451, "4.5.0", "451 4.5.0 unexpected reply to RCPT");
    }
    s->need_rset = 1;                 /* a transaction is open */
    if (accepted == 0 && !pipe) {
        s->state = SESS_OK;
        return RELAY_SMTP_OK;
    }

    if (pipe ? smtp_read_reply(c, &r) != 0 : smtp_cmd(c, &r, "DATA\r\n") != 0)
        goto data_io;
    if (accepted == 0) {              /* pipelined DATA after refused recipients */
        if (r.code == 354 && smtp_data_abandon(c) != 0)
            goto data_io;
        s->state = SESS_OK;
        return RELAY_SMTP_OK;
    }
    if (r.code != 354) {
        for (size_t i = 0; i < n; i++)
            if (out[i].code / 100 == 2) {
                if (r.code / 100 == 2)
                    smtp_rcpt_set(&out[i], 451, "4.5.0", "451 4.5.0 unexpected reply to DATA");
                else
                    smtp_rcpt_from_reply(&out[i], &r);
            }
        s->state = (r.code / 100 == 2) ? SESS_BROKEN : SESS_OK;
        return RELAY_SMTP_OK;
    }
    stage = "end of data";
    size_t cap = len + len / 2 + 16;
    buf *body = buf_create(cap < len ? len : cap);
    if (relay_dot_stuff(msg, len, body) != 0) {
        buf_free(body);
        snprintf(c->err, sizeof(c->err), "message too large to stuff");
        goto data_io;
    }
    int wr = smtp_write(c, body->data, body->len);
    buf_free(body);
    if (wr != 0 || smtp_read_reply(c, &r) != 0)
        goto data_io;
    /* LMTP (RFC 2033 §4.2): one reply per accepted recipient, in order;
     * SMTP: the one reply covers them all. */
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (out[i].code / 100 != 2)
            continue;
        if (s->lmtp && !first && smtp_read_reply(c, &r) != 0) {
            char why[RELAY_SMTP_REPLY_MAX];
            snprintf(why, sizeof(why), "451 4.4.2 lost connection at LMTP replies: %s", c->err);
            for (size_t j = i; j < n; j++)
                if (out[j].code / 100 == 2)
                    smtp_rcpt_set(&out[j], 451, "4.4.2", why);
            return RELAY_SMTP_OK;
        }
        first = 0;
        smtp_rcpt_from_reply(&out[i], &r);
    }
    s->state = SESS_OK;
    s->need_rset = 0;                 /* the transaction ended: no RSET before the next */
    return RELAY_SMTP_OK;

data_io: {
        char why[RELAY_SMTP_REPLY_MAX];
        snprintf(why, sizeof(why), "451 4.4.2 lost connection at %s: %s", stage, c->err);
        for (size_t i = 0; i < n; i++)
            if (out[i].code / 100 == 2)
                smtp_rcpt_set(&out[i], 451, "4.4.2", why);
    }
    return RELAY_SMTP_OK;
}

int relay_smtp_reusable(const relay_smtp_session *s)
{
    return s != NULL && s->state == SESS_OK;
}

int relay_smtp_reset(relay_smtp_session *s)
{
    relay_reply r;
    char peek;

    if (s == NULL || s->state != SESS_OK)
        return -1;
    /* After a transaction that ended with its final reply the session is
     * in its initial state: no RSET round trip (as Postfix), only a check
     * without waiting that the server has not closed it or said something
     * unasked (a 421 before closing) meanwhile: then RSET finds out. */
    if (!s->need_rset && s->c.rpos == s->c.rlen) {
        ssize_t g = recv(s->c.fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT);
        if (g < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
    }
    if (smtp_cmd(&s->c, &r, "RSET\r\n") != 0 || r.code != 250) {
        s->state = SESS_BROKEN;
        return -1;
    }
    return 0;
}

void relay_smtp_close(relay_smtp_session *s)
{
    if (s == NULL)
        return;
    if (s->state != SESS_BROKEN)
        smtp_quit(&s->c);
    smtp_close(&s->c);
    free(s);
}

enum relay_smtp_result relay_smtp_send(const struct sockaddr *addr, socklen_t alen,
                                       const char *host, const relay_smtp_opts *o,
                                       const char *mail_from,
                                       const char *const *rcpts, size_t n,
                                       const char *msg, size_t len,
                                       relay_smtp_rcpt *out, relay_smtp_info *info)
{
    relay_smtp_session *s = NULL;

    for (size_t i = 0; i < n; i++)
        smtp_rcpt_set(&out[i], 0, "", "");
    enum relay_smtp_result res = relay_smtp_open(addr, alen, host, o, &s, info);
    if (res != RELAY_SMTP_OK)
        return res;
    res = relay_smtp_txn(s, mail_from, rcpts, n, msg, len, out, info);
    relay_smtp_close(s);
    return res;
}

/* " RET=HDRS ENVID=xtext" (what is set; an ENVID too long is left out). */
static void smtp_dsn_mail_params(const relay_smtp_dsn *d, char *out, size_t outlen)
{
    char x[400];
    out[0] = '\0';
    if (d == NULL)
        return;
    int w = 0;
    if (d->ret != NULL && (strcmp(d->ret, "FULL") == 0 || strcmp(d->ret, "HDRS") == 0))
        w = snprintf(out, outlen, " RET=%s", d->ret);
    if (w >= 0 && (size_t)w < outlen && d->envid != NULL && d->envid[0] != '\0' &&
        relay_dsnp_xtext(d->envid, x, sizeof(x)) == 0)
        (void)snprintf(out + w, outlen - (size_t)w, " ENVID=%s", x);
}

/* " NOTIFY=... ORCPT=type;xtext" for recipient i. */
static void smtp_dsn_rcpt_params(const relay_smtp_dsn *d, size_t i, char *out, size_t outlen)
{
    char x[600];
    out[0] = '\0';
    if (d == NULL)
        return;
    int w = 0;
    const char *nt = d->notify != NULL ? d->notify[i] : NULL;
    const char *oc = d->orcpt != NULL ? d->orcpt[i] : NULL;
    if (nt != NULL && nt[0] != '\0')
        w = snprintf(out, outlen, " NOTIFY=%s", nt);
    const char *semi = oc != NULL ? strchr(oc, ';') : NULL;
    if (w >= 0 && (size_t)w < outlen && semi != NULL && semi - oc < 32 &&
        relay_dsnp_xtext(semi + 1, x, sizeof(x)) == 0)
        (void)snprintf(out + w, outlen - (size_t)w, " ORCPT=%.*s;%s", (int)(semi - oc), oc, x);
}

static int smtp_connect(smtp_conn *c, const struct sockaddr *addr, socklen_t alen,
                        int timeout_s)
{
    c->fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (c->fd < 0) {
        snprintf(c->err, sizeof(c->err), "socket: %s", strerror(errno));
        return -1;
    }
    if (connect(c->fd, addr, alen) != 0) {
        if (errno != EINPROGRESS) {
            snprintf(c->err, sizeof(c->err), "%s", strerror(errno));
            return -1;
        }
        struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
        int pr;
        do {
            pr = poll(&pfd, 1, timeout_s * 1000);
        } while (pr < 0 && errno == EINTR);
        if (pr == 0) {
            snprintf(c->err, sizeof(c->err), "connection timed out");
            return -1;
        }
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (pr < 0 || getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
            snprintf(c->err, sizeof(c->err), "%s", strerror(pr < 0 ? errno : soerr));
            return -1;
        }
    }
    int fl = fcntl(c->fd, F_GETFL);
    struct timeval tv = { .tv_sec = timeout_s, .tv_usec = 0 };
    if (fl < 0 || fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK) != 0 ||
        setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
        snprintf(c->err, sizeof(c->err), "socket options: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int smtp_read_reply(smtp_conn *c, relay_reply *r)
{
    for (;;) {
        if (c->rpos < c->rlen) {
            int done = 0;
            size_t used = relay_reply_feed(&c->parser, c->rbuf + c->rpos,
                                           c->rlen - c->rpos, r, &done);
            if (c->parser.err) {
                snprintf(c->err, sizeof(c->err), "protocol error: %s", c->parser.errstr);
                return -1;
            }
            c->rpos += used;
            if (done)
                return 0;
        }
        c->rpos = c->rlen = 0;
        ssize_t got;
        if (c->ssl != NULL) {
            int g = SSL_read(c->ssl, c->rbuf, (int)sizeof(c->rbuf));
            got = g > 0 ? g : -1;
            if (g <= 0 && SSL_get_error(c->ssl, g) == SSL_ERROR_ZERO_RETURN)
                got = 0;
        } else {
            do {
                got = recv(c->fd, c->rbuf, sizeof(c->rbuf), 0);
            } while (got < 0 && errno == EINTR);
        }
        if (got == 0) {
            snprintf(c->err, sizeof(c->err), "connection closed by server");
            return -1;
        }
        if (got < 0) {
            snprintf(c->err, sizeof(c->err), "%s",
                     (errno == EAGAIN || errno == EWOULDBLOCK) ? "read timed out"
                                                               : strerror(errno));
            return -1;
        }
        c->rlen = (size_t)got;
    }
}

static int smtp_write(smtp_conn *c, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w;
        if (c->ssl != NULL) {
            int chunk = n > (1u << 20) ? (1 << 20) : (int)n;
            int g = SSL_write(c->ssl, p, chunk);
            w = g > 0 ? g : -1;
        } else {
            w = send(c->fd, p, n, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
        }
        if (w <= 0) {
            snprintf(c->err, sizeof(c->err), "%s",
                     (errno == EAGAIN || errno == EWOULDBLOCK) ? "write timed out"
                                                               : "write failed");
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int smtp_cmd(smtp_conn *c, relay_reply *r, const char *fmt, ...)
{
    char line[1100];
    va_list ap;

    va_start(ap, fmt);
    int w = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= sizeof(line)) {
        snprintf(c->err, sizeof(c->err), "command too long");
        return -1;
    }
    if (smtp_write(c, line, (size_t)w) != 0)
        return -1;
    return smtp_read_reply(c, r);
}

static int smtp_starttls(smtp_conn *c, const char *host, const relay_smtp_opts *o,
                         relay_smtp_info *info)
{
    unsigned char tmp[16];
    const char *name = o->verify_name != NULL ? o->verify_name : host;

    /* Bytes the server sent before the handshake must not be trusted. */
    c->rpos = c->rlen = 0;
    relay_reply_parser_init(&c->parser);
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (c->ctx == NULL) {
        snprintf(c->err, sizeof(c->err), "SSL_CTX_new failed");
        return -1;
    }
    /* The chain and the name are always checked; the result is recorded, and
     * enforced by the caller in verify mode (so the reply says why). */
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
    int loaded = o->ca_file != NULL && o->ca_file[0] != '\0'
                     ? SSL_CTX_load_verify_locations(c->ctx, o->ca_file, NULL)
                     : SSL_CTX_set_default_verify_paths(c->ctx);
    if (loaded != 1)
        ERR_clear_error();   /* nothing trusted: every certificate is "not verified" */
    c->ssl = SSL_new(c->ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
        snprintf(c->err, sizeof(c->err), "SSL_new failed");
        return -1;
    }
    int is_ip = inet_pton(AF_INET, name, tmp) == 1 || inet_pton(AF_INET6, name, tmp) == 1;
    if (is_ip) {
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), name) != 1)
            ERR_clear_error();
    } else {
        (void)SSL_set_tlsext_host_name(c->ssl, name);
        if (SSL_set1_host(c->ssl, name) != 1)
            ERR_clear_error();
    }
    if (o->ntlsa > 0 && relay_smtp_dane_setup(c->ctx, c->ssl, name, o) != 0) {
        snprintf(c->err, sizeof(c->err), "DANE set-up failed (no usable TLSA record)");
        return -1;
    }
    if (SSL_connect(c->ssl) != 1) {
        unsigned long e = ERR_get_error();
        char es[160];
        ERR_error_string_n(e, es, sizeof(es));
        snprintf(c->err, sizeof(c->err), "%s", e ? es : "handshake failed");
        ERR_clear_error();
        SSL_free(c->ssl);
        c->ssl = NULL;
        return -1;
    }
    snprintf(info->tls, sizeof(info->tls), "%s %s", SSL_get_version(c->ssl),
             SSL_get_cipher_name(c->ssl));
    smtp_tls_verify_result(c, info);
    if (o->ntlsa > 0)
        relay_smtp_dane_result(c->ssl, info->dane, sizeof(info->dane));
    return 0;
}

static void smtp_tls_verify_result(smtp_conn *c, relay_smtp_info *info)
{
    X509 *peer = SSL_get1_peer_certificate(c->ssl);
    long vr = SSL_get_verify_result(c->ssl);

    if (peer == NULL)
        snprintf(info->tls_verify, sizeof(info->tls_verify), "not verified: no certificate");
    else if (vr == X509_V_OK)
        snprintf(info->tls_verify, sizeof(info->tls_verify), "verified");
    else
        snprintf(info->tls_verify, sizeof(info->tls_verify), "not verified: %s",
                 X509_verify_cert_error_string(vr));
    X509_free(peer);
}

/* AUTH PLAIN (preferred) or LOGIN, only over TLS. 0 when authenticated;
 * -1 with info->reply saying why (the caller moves on / defers). */
static int smtp_auth(smtp_conn *c, const relay_smtp_opts *o, const relay_ehlo *ehlo,
                     relay_smtp_info *info)
{
    relay_reply r;
    char raw[600], enc[820];
    size_t ul = strlen(o->auth_user), pl = strlen(o->auth_pass);

    if (c->ssl == NULL) {
        info->code = 0;
        snprintf(info->reply, sizeof(info->reply), "AUTH credentials are configured but the "
                 "connection is not encrypted; not sending them");
        return -1;
    }
    if (ul + pl + 2 > sizeof(raw)) {
        snprintf(info->reply, sizeof(info->reply), "AUTH credentials too long");
        return -1;
    }
    if (ehlo->auth_plain) {
        raw[0] = '\0';
        memcpy(raw + 1, o->auth_user, ul);
        raw[ul + 1] = '\0';
        memcpy(raw + ul + 2, o->auth_pass, pl);
        if (smtp_b64(raw, ul + pl + 2, enc, sizeof(enc)) != 0 ||
            smtp_cmd(c, &r, "AUTH PLAIN %s\r\n", enc) != 0)
            goto io;
    } else if (ehlo->auth_login) {
        if (smtp_cmd(c, &r, "AUTH LOGIN\r\n") != 0)
            goto io;
        if (r.code == 334) {
            if (smtp_b64(o->auth_user, ul, enc, sizeof(enc)) != 0 ||
                smtp_cmd(c, &r, "%s\r\n", enc) != 0)
                goto io;
        }
        if (r.code == 334) {
            if (smtp_b64(o->auth_pass, pl, enc, sizeof(enc)) != 0 ||
                smtp_cmd(c, &r, "%s\r\n", enc) != 0)
                goto io;
        }
    } else {
        info->code = 0;
        snprintf(info->reply, sizeof(info->reply),
                 "AUTH credentials are configured but the server offers neither PLAIN nor LOGIN");
        return -1;
    }
    OPENSSL_cleanse(raw, sizeof(raw));
    OPENSSL_cleanse(enc, sizeof(enc));
    if (r.code == 235)
        return 0;
    char rr[RELAY_SMTP_REPLY_MAX];
    relay_reply_format(&r, rr, sizeof(rr));
    info->code = 0;
    snprintf(info->reply, sizeof(info->reply), "authentication failed: %.450s", rr);
    return -1;
io:
    OPENSSL_cleanse(raw, sizeof(raw));
    OPENSSL_cleanse(enc, sizeof(enc));
    smtp_info_io(info, c, "AUTH");
    return -1;
}

static int smtp_b64(const char *in, size_t len, char *out, size_t outlen)
{
    if ((len + 2) / 3 * 4 + 1 > outlen)
        return -1;
    (void)EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)in, (int)len);
    return 0;
}

/* A pipelined DATA got 354 although no recipient was accepted (RFC 2920
 * §3.1): end the empty message and read the server's answer. 0 or -1. */
static int smtp_data_abandon(smtp_conn *c)
{
    relay_reply r;
    return smtp_cmd(c, &r, ".\r\n");
}

static void smtp_quit(smtp_conn *c)
{
    relay_reply r;
    (void)smtp_cmd(c, &r, "QUIT\r\n");
}

static void smtp_close(smtp_conn *c)
{
    if (c->ssl != NULL) {
        (void)SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    SSL_CTX_free(c->ctx);
    if (c->fd >= 0)
        close(c->fd);
    c->ssl = NULL;
    c->ctx = NULL;
    c->fd = -1;
}

static void smtp_info_reply(relay_smtp_info *info, const relay_reply *r)
{
    info->code = r->code;
    relay_reply_format(r, info->reply, sizeof(info->reply));
}

static void smtp_info_io(relay_smtp_info *info, const smtp_conn *c, const char *stage)
{
    info->code = 0;
    snprintf(info->reply, sizeof(info->reply), "%s: %s", stage, c->err);
}

static void smtp_rcpt_set(relay_smtp_rcpt *o, int code, const char *status,
                          const char *reply)
{
    o->code = code;
    snprintf(o->status, sizeof(o->status), "%s", status);
    snprintf(o->reply, sizeof(o->reply), "%s", reply);
}

static void smtp_rcpt_from_reply(relay_smtp_rcpt *o, const relay_reply *r)
{
    o->code = r->code;
    snprintf(o->status, sizeof(o->status), "%s", r->enhanced);
    relay_reply_format(r, o->reply, sizeof(o->reply));
}

static int smtp_has_8bit(const char *msg, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)msg[i] & 0x80)
            return 1;
    return 0;
}
