/*
 * relay_smtp.c - the relay's blocking SMTP client transaction (see
 * relay_smtp.h). Owns the connection state of one relay_smtp_send() call.
 */
#include "relay_smtp.h"
#include "relay_reply.h"
#include "buf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

typedef struct smtp_conn {
    int                fd;
    SSL_CTX           *ctx;       /* owned, NULL until STARTTLS */
    SSL               *ssl;       /* owned, NULL until STARTTLS */
    char               rbuf[4096];
    size_t             rpos, rlen;
    relay_reply_parser parser;
    char               err[256];  /* last I/O or protocol error */
} smtp_conn;

static int  smtp_connect(smtp_conn *c, const struct sockaddr *addr, socklen_t alen,
                         int timeout_s);
static int  smtp_read_reply(smtp_conn *c, relay_reply *r);
static int  smtp_write(smtp_conn *c, const char *p, size_t n);
static int  smtp_cmd(smtp_conn *c, relay_reply *r, const char *fmt, ...)
                __attribute__((format(printf, 3, 4)));
static int  smtp_starttls(smtp_conn *c, const char *host, char *tls, size_t tlslen);
static void smtp_close(smtp_conn *c);
static void smtp_quit(smtp_conn *c);
static void smtp_info_reply(relay_smtp_info *info, const relay_reply *r);
static void smtp_info_io(relay_smtp_info *info, const smtp_conn *c, const char *stage);
static void smtp_rcpt_set(relay_smtp_rcpt *o, int code, const char *status,
                          const char *reply);
static void smtp_rcpt_from_reply(relay_smtp_rcpt *o, const relay_reply *r);
static int  smtp_has_8bit(const char *msg, size_t len);

enum relay_smtp_result relay_smtp_send(const struct sockaddr *addr, socklen_t alen,
                                       const char *host, const relay_smtp_opts *o,
                                       const char *mail_from,
                                       const char *const *rcpts, size_t n,
                                       const char *msg, size_t len,
                                       relay_smtp_rcpt *out, relay_smtp_info *info)
{
    smtp_conn c;
    relay_reply r;
    relay_ehlo ehlo;
    enum relay_smtp_result res = RELAY_SMTP_TRYNEXT;
    int esmtp = 1;

    memset(&c, 0, sizeof(c));
    memset(info, 0, sizeof(*info));
    c.fd = -1;
    relay_reply_parser_init(&c.parser);
    for (size_t i = 0; i < n; i++)
        smtp_rcpt_set(&out[i], 0, "", "");

    if (smtp_connect(&c, addr, alen, o->timeout_s) != 0) {
        smtp_info_io(info, &c, "connect");
        goto done;
    }
    if (smtp_read_reply(&c, &r) != 0) {
        smtp_info_io(info, &c, "greeting");
        goto done;
    }
    if (r.code != 220) {
        smtp_info_reply(info, &r);
        smtp_quit(&c);
        goto done;
    }
    if (smtp_cmd(&c, &r, "EHLO %s\r\n", o->helo) != 0) {
        smtp_info_io(info, &c, "EHLO");
        goto done;
    }
    if (r.code / 100 == 5) {
        esmtp = 0;
        if (smtp_cmd(&c, &r, "HELO %s\r\n", o->helo) != 0) {
            smtp_info_io(info, &c, "HELO");
            goto done;
        }
    }
    if (r.code != 250) {
        smtp_info_reply(info, &r);
        smtp_quit(&c);
        goto done;
    }
    if (esmtp)
        relay_ehlo_parse(&r, &ehlo);
    else
        memset(&ehlo, 0, sizeof(ehlo));

    if (o->try_tls && ehlo.starttls) {
        if (smtp_cmd(&c, &r, "STARTTLS\r\n") != 0) {
            smtp_info_io(info, &c, "STARTTLS");
            goto done;
        }
        if (r.code == 220) {
            if (smtp_starttls(&c, host, info->tls, sizeof(info->tls)) != 0) {
                smtp_info_io(info, &c, "TLS handshake");
                info->tls[0] = '\0';
                res = RELAY_SMTP_TLSFAIL;
                goto done;
            }
            if (smtp_cmd(&c, &r, "EHLO %s\r\n", o->helo) != 0) {
                smtp_info_io(info, &c, "EHLO after STARTTLS");
                goto done;
            }
            if (r.code != 250) {
                smtp_info_reply(info, &r);
                smtp_quit(&c);
                goto done;
            }
            relay_ehlo_parse(&r, &ehlo);
        }
        /* any other answer: carry on in plain text (opportunistic) */
    }

    if (ehlo.size && ehlo.size_max > 0 && len > ehlo.size_max) {
        for (size_t i = 0; i < n; i++)
            smtp_rcpt_set(&out[i], 552, "5.3.4",
                          "552 5.3.4 message size exceeds the server's SIZE limit");
        smtp_quit(&c);
        res = RELAY_SMTP_OK;
        goto done;
    }
    char params[96] = "";
    int pw = 0;
    if (ehlo.size)
        pw = snprintf(params, sizeof(params), " SIZE=%zu", len);
    if (pw >= 0 && (size_t)pw < sizeof(params) && ehlo.eightbitmime && smtp_has_8bit(msg, len))
        (void)snprintf(params + pw, sizeof(params) - (size_t)pw, " BODY=8BITMIME");
    if (smtp_cmd(&c, &r, "MAIL FROM:<%s>%s\r\n", mail_from, params) != 0) {
        smtp_info_io(info, &c, "MAIL FROM");
        goto done;
    }
    if (r.code / 100 == 4) {
        smtp_info_reply(info, &r);
        smtp_quit(&c);
        goto done;
    }
    if (r.code / 100 != 2) {
        for (size_t i = 0; i < n; i++)
            smtp_rcpt_from_reply(&out[i], &r);
        smtp_quit(&c);
        res = RELAY_SMTP_OK;
        goto done;
    }

    /* From here on every recipient gets a final answer. */
    res = RELAY_SMTP_OK;
    size_t accepted = 0;
    for (size_t i = 0; i < n; i++) {
        if (smtp_cmd(&c, &r, "RCPT TO:<%s>\r\n", rcpts[i]) != 0) {
            char why[RELAY_SMTP_REPLY_MAX];
            snprintf(why, sizeof(why), "451 4.4.2 lost connection after RCPT: %s", c.err);
            for (size_t j = 0; j < n; j++)
                if (out[j].code == 0 || out[j].code / 100 == 2)
                    smtp_rcpt_set(&out[j], 451, "4.4.2", why);
            goto done;
        }
        smtp_rcpt_from_reply(&out[i], &r);
        if (r.code / 100 == 2)
            accepted++;
        else if (r.code / 100 == 3)   /* nonsense at RCPT: treat as transient */
            smtp_rcpt_set(&out[i], 451, "4.5.0", "451 4.5.0 unexpected reply to RCPT");
    }
    if (accepted == 0) {
        smtp_quit(&c);
        goto done;
    }

    const char *stage = "DATA";
    if (smtp_cmd(&c, &r, "DATA\r\n") != 0)
        goto data_io;
    if (r.code != 354) {
        for (size_t i = 0; i < n; i++)
            if (out[i].code / 100 == 2) {
                if (r.code / 100 == 2)
                    smtp_rcpt_set(&out[i], 451, "4.5.0", "451 4.5.0 unexpected reply to DATA");
                else
                    smtp_rcpt_from_reply(&out[i], &r);
            }
        smtp_quit(&c);
        goto done;
    }
    stage = "end of data";
    size_t cap = len + len / 2 + 16;
    buf *body = buf_create(cap < len ? len : cap);
    if (relay_dot_stuff(msg, len, body) != 0) {
        buf_free(body);
        snprintf(c.err, sizeof(c.err), "message too large to stuff");
        goto data_io;
    }
    int wr = smtp_write(&c, body->data, body->len);
    buf_free(body);
    if (wr != 0 || smtp_read_reply(&c, &r) != 0)
        goto data_io;
    for (size_t i = 0; i < n; i++)
        if (out[i].code / 100 == 2)
            smtp_rcpt_from_reply(&out[i], &r);
    smtp_quit(&c);
    goto done;

data_io: {
        char why[RELAY_SMTP_REPLY_MAX];
        snprintf(why, sizeof(why), "451 4.4.2 lost connection at %s: %s", stage, c.err);
        for (size_t i = 0; i < n; i++)
            if (out[i].code / 100 == 2)
                smtp_rcpt_set(&out[i], 451, "4.4.2", why);
    }
done:
    smtp_close(&c);
    return res;
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

static int smtp_starttls(smtp_conn *c, const char *host, char *tls, size_t tlslen)
{
    unsigned char tmp[16];

    /* Bytes the server sent before the handshake must not be trusted. */
    c->rpos = c->rlen = 0;
    relay_reply_parser_init(&c->parser);
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (c->ctx == NULL) {
        snprintf(c->err, sizeof(c->err), "SSL_CTX_new failed");
        return -1;
    }
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
    c->ssl = SSL_new(c->ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
        snprintf(c->err, sizeof(c->err), "SSL_new failed");
        return -1;
    }
    if (inet_pton(AF_INET, host, tmp) != 1 && inet_pton(AF_INET6, host, tmp) != 1)
        (void)SSL_set_tlsext_host_name(c->ssl, host);
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
    snprintf(tls, tlslen, "%s %s", SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
    return 0;
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
