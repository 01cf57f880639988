/*
 * smtp_session.c - the SMTP server state machine: command lines in, replies
 * out, transactions rolled back on RSET/EHLO/STARTTLS/errors. No I/O; the
 * server (smtp_server.c) moves bytes and the callbacks in smtp_session_cfg
 * reach rewrite and the spool. See smtp_session.h.
 *
 * SECURITY: everything fed here comes from the peer. Command lines are
 * bounded by SMTP_LINE_MAX (longer ones are discarded with 500 5.5.2),
 * messages by max_message_size (DATA and the sum of the BDAT chunks), the
 * header section by max_header_size, recipients by max_rcpts, and a client
 * that keeps making errors is disconnected after max_errors. A client that
 * pipelines before EHLO is disconnected (554 5.5.0).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "log.h"
#include "xalloc.h"
#include "smtp_session.h"

#define SMTP_OUT_MAX (1024 * 1024)   /* SMTP_FEED_MAX bytes give far fewer replies */

static void smtp_reply(smtp_session *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void smtp_session_command(smtp_session *s, const char *line, size_t len);
static void smtp_session_data_end(smtp_session *s);
static void smtp_cmd_ehlo(smtp_session *s, const smtp_cmd *c);
static void smtp_cmd_mail(smtp_session *s, const smtp_cmd *c);
static void smtp_cmd_rcpt(smtp_session *s, const smtp_cmd *c);
static void smtp_cmd_data(smtp_session *s, const smtp_cmd *c);
static void smtp_cmd_bdat(smtp_session *s, const smtp_cmd *c);
static void smtp_session_bdat_end(smtp_session *s);
static void smtp_session_data_start(smtp_session *s, unsigned opts);
static int  smtp_cmd_starttls(smtp_session *s, const smtp_cmd *c);
static void smtp_session_reset(smtp_session *s);
static void smtp_session_line_too_long(smtp_session *s);

smtp_session *smtp_session_create(const smtp_session_cfg *cfg, const char *client_ip,
                                  void *arg)
{
    smtp_session *s = xcalloc(1, sizeof *s);
    s->cfg = cfg;
    s->arg = arg;
    if (str_copy(s->client_ip, sizeof s->client_ip, client_ip) != 0)
        s->client_ip[0] = '\0';
    buf_init(&s->in, SMTP_LINE_MAX);
    buf_init(&s->out, SMTP_OUT_MAX);
    if (buf_printf(&s->out, "220 %s ESMTP Mailyard\r\n", cfg->hostname) != 0)
        panic("smtp greeting does not fit");
    return s;
}

void smtp_session_free(smtp_session *s)
{
    if (s == NULL)
        return;
    smtp_session_tx_rollback(s);
    smtp_sasl_clear(&s->sasl);
    buf_release(&s->in);
    buf_release(&s->out);
    free(s);
}

void smtp_session_tx_rollback(smtp_session *s)
{
    smtp_tx *tx = s->tx;
    if (tx == NULL)
        return;
    for (size_t i = 0; i < tx->nrcpts; i++) {
        free(tx->rcpts[i]);
        free(tx->orcpt[i]);
    }
    free(tx->rcpts);
    free(tx->orcpt);
    free(tx->notify);
    if (tx->in_data)
        smtp_data_release(&tx->data);
    free(tx);
    s->tx = NULL;
}

/* EHLO/HELO/STARTTLS: forget the client's name and any transaction. */
static void smtp_session_reset(smtp_session *s)
{
    smtp_session_tx_rollback(s);
    s->helo[0] = '\0';
    s->esmtp = 0;
}

void smtp_session_tls_started(smtp_session *s)
{
    s->tls = 1;
}

int smtp_session_in_data(const smtp_session *s)
{
    return s->state == SMTP_STATE_DATA || s->state == SMTP_STATE_BDAT;
}

void smtp_session_reply(smtp_session *s, int code, const char *text)
{
    smtp_reply(s, code, "%s", text);
}

void smtp_session_abort(smtp_session *s, int code, const char *text)
{
    if (s->state == SMTP_STATE_CLOSED)
        return;
    smtp_reply(s, code, "%s", text);
    s->state = SMTP_STATE_CLOSED;
}

/* Queues "code text\r\n", tells on_reply, counts client errors. */
static void smtp_reply(smtp_session *s, int code, const char *fmt, ...)
{
    char text[SMTP_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);   /* truncation is harmless here */
    va_end(ap);
    if (buf_printf(&s->out, "%d %s\r\n", code, text) != 0)
        panic("smtp reply buffer full");
    if (s->cfg->on_reply != NULL)
        s->cfg->on_reply(s->arg, s, code, text);
    /* 421 closes anyway; 451 is our own (lookup/storage) failure. */
    if (code >= 400 && code != 421 && code != 451 && s->state != SMTP_STATE_CLOSED) {
        s->errors++;
        if (s->cfg->max_errors > 0 && s->errors >= s->cfg->max_errors)
            smtp_session_abort(s, 421, "4.7.0 Error: too many errors");
    }
}

/* 500 for an over-long line; it also ends an AUTH exchange (its response
 * was lost, and the next lines must be commands again). */
static void smtp_session_line_too_long(smtp_session *s)
{
    smtp_sasl_clear(&s->sasl);
    smtp_reply(s, 500, "5.5.2 Error: line too long");
}

enum smtp_action smtp_session_feed(smtp_session *s, const char *p, size_t n)
{
    if (n > SMTP_FEED_MAX)
        panic("smtp_session_feed: more than SMTP_FEED_MAX bytes");
    size_t i = 0;
    while (i < n && s->state != SMTP_STATE_CLOSED) {
        if (s->state == SMTP_STATE_DATA) {
            i += smtp_data_feed(&s->tx->data, p + i, n - i);
            if (s->tx->data.done)
                smtp_session_data_end(s);
            continue;
        }
        if (s->state == SMTP_STATE_BDAT) {
            size_t k = n - i;
            if ((unsigned long long)k > s->bdat_left)
                k = (size_t)s->bdat_left;
            if (!s->bdat_refused)
                smtp_data_feed(&s->tx->data, p + i, k);
            i += k;
            s->bdat_left -= k;
            if (s->bdat_left == 0)
                smtp_session_bdat_end(s);
            continue;
        }
        const char *lf = memchr(p + i, '\n', n - i);
        size_t chunk = lf != NULL ? (size_t)(lf - (p + i)) + 1 : n - i;
        i += chunk;
        if (s->discarding) {
            if (lf != NULL) {
                s->discarding = 0;
                smtp_session_line_too_long(s);
            }
            continue;
        }
        if (s->in.len + chunk > SMTP_LINE_MAX) {
            buf_reset(&s->in);
            if (lf != NULL)
                smtp_session_line_too_long(s);
            else
                s->discarding = 1;
            continue;
        }
        if (buf_append(&s->in, p + i - chunk, chunk) != 0)
            panic("smtp line buffer");
        if (lf == NULL)
            continue;
        size_t len = s->in.len - 1;
        if (len > 0 && s->in.data[len - 1] == '\r')
            len--;
        int was_esmtp = s->esmtp;
        smtp_session_command(s, s->in.data, len);
        buf_reset(&s->in);
        if (s->tls_pending) {           /* STARTTLS accepted: stop here */
            s->tls_pending = 0;
            return SMTP_ACT_STARTTLS;
        }
        if (!was_esmtp && i < n && s->state != SMTP_STATE_CLOSED) {
            /* The client sent more before it saw our reply to a command
             * given without EHLO (RFC 2920 allows pipelining only after
             * the EHLO reply): a blind spammer, or an injection attempt. */
            smtp_session_abort(s, 554, "5.5.0 Error: SMTP protocol synchronization "
                                       "(pipelining before EHLO)");
        }
    }
    return s->state == SMTP_STATE_CLOSED ? SMTP_ACT_CLOSE : SMTP_ACT_CONTINUE;
}

static void smtp_session_command(smtp_session *s, const char *line, size_t len)
{
    if (smtp_sasl_active(&s->sasl)) {  /* an AUTH response, not a command */
        smtp_session_auth_line(s, line, len);
        return;
    }
    smtp_cmd c;
    enum smtp_parse_result r = smtp_cmd_parse(line, len, &c);
    if (r != SMTP_PARSE_OK) {
        if (s->cfg->on_command != NULL)
            s->cfg->on_command(s->arg, "unknown");
        smtp_reply(s, 500, "5.5.2 Error: command not recognized");
        return;
    }
    if (s->cfg->on_command != NULL)
        s->cfg->on_command(s->arg, smtp_verb_name(c.verb));
    if (c.verb == SMTP_VERB_BDAT) {    /* its chunk follows, whatever the state */
        smtp_cmd_bdat(s, &c);
        return;
    }
    int need_helo = c.verb == SMTP_VERB_MAIL || c.verb == SMTP_VERB_RCPT ||
                    c.verb == SMTP_VERB_DATA || c.verb == SMTP_VERB_STARTTLS ||
                    c.verb == SMTP_VERB_AUTH;
    if (need_helo && s->helo[0] == '\0') {
        smtp_reply(s, 503, "5.5.1 Error: send HELO/EHLO first");
        return;
    }
    switch (c.verb) {
    case SMTP_VERB_EHLO:
    case SMTP_VERB_HELO:     smtp_cmd_ehlo(s, &c); break;
    case SMTP_VERB_MAIL:     smtp_cmd_mail(s, &c); break;
    case SMTP_VERB_RCPT:     smtp_cmd_rcpt(s, &c); break;
    case SMTP_VERB_DATA:     smtp_cmd_data(s, &c); break;
    case SMTP_VERB_RSET:
        smtp_session_tx_rollback(s);
        smtp_reply(s, 250, "2.0.0 Ok");
        break;
    case SMTP_VERB_NOOP:     smtp_reply(s, 250, "2.0.0 Ok"); break;
    case SMTP_VERB_VRFY:
        smtp_reply(s, 252, "2.5.2 Cannot VRFY user, but will accept message and attempt delivery");
        break;
    case SMTP_VERB_QUIT:
        smtp_reply(s, 221, "2.0.0 Bye");
        s->state = SMTP_STATE_CLOSED;
        break;
    case SMTP_VERB_STARTTLS:
        s->tls_pending = smtp_cmd_starttls(s, &c);
        break;
    case SMTP_VERB_AUTH:     smtp_session_auth_cmd(s, c.arg); break;
    case SMTP_VERB_BDAT:
    case SMTP_VERB_UNKNOWN:
        panic("smtp_session_command: verb not dispatched");
    }
}

static void smtp_cmd_ehlo(smtp_session *s, const smtp_cmd *c)
{
    int ehlo = c->verb == SMTP_VERB_EHLO;
    char name[SMTP_LINE_MAX];
    size_t n = strcspn(c->arg, " \t");
    memcpy(name, c->arg, n);
    name[n] = '\0';
    if (n == 0) {
        smtp_reply(s, 501, "5.5.4 Syntax: %s hostname", ehlo ? "EHLO" : "HELO");
        return;
    }
    if (!smtp_helo_valid(name)) {
        smtp_reply(s, 501, "5.5.2 Error: invalid %s hostname", ehlo ? "EHLO" : "HELO");
        return;
    }
    smtp_session_reset(s);
    if (str_copy(s->helo, sizeof s->helo, name) != 0)
        panic("helo name longer than validated");
    s->esmtp = ehlo;
    if (!ehlo) {
        smtp_reply(s, 250, "%s", s->cfg->hostname);
        return;
    }
    if (buf_printf(&s->out, "250-%s\r\n250-PIPELINING\r\n250-SIZE %zu\r\n"
                   "250-8BITMIME\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250-DSN\r\n"
                   "%s%s250 ENHANCEDSTATUSCODES\r\n",
                   s->cfg->hostname, s->cfg->max_message_size,
                   s->cfg->tls_available && !s->tls ? "250-STARTTLS\r\n" : "",
                   smtp_session_auth_ehlo(s)) != 0)
        panic("smtp reply buffer full");
    if (s->cfg->on_reply != NULL)
        s->cfg->on_reply(s->arg, s, 250, "ENHANCEDSTATUSCODES");
}

static void smtp_cmd_mail(smtp_session *s, const smtp_cmd *c)
{
    if (s->tx != NULL) {
        smtp_reply(s, 503, "5.5.1 Error: nested MAIL command");
        return;
    }
    smtp_mail_args a;
    switch (smtp_mail_parse(c->arg, s->esmtp, &a)) {
    case SMTP_PATH_OK: break;
    case SMTP_PATH_SYNTAX:
        smtp_reply(s, 501, "5.5.2 Syntax: MAIL FROM:<address>"); return;
    case SMTP_PATH_BAD_ADDR:
        smtp_reply(s, 501, "5.1.7 Bad sender address syntax"); return;
    case SMTP_PATH_ROUTE:
        smtp_reply(s, 553, "5.7.1 Source routes and %%/! routing are not accepted"); return;
    case SMTP_PATH_BAD_PARAM:
        smtp_reply(s, 501, "5.5.4 Bad MAIL parameter value"); return;
    case SMTP_PATH_UNKNOWN_PARAM:
        smtp_reply(s, 555, "5.5.4 Unsupported MAIL parameter"); return;
    case SMTP_PATH_NEED_UTF8:
        smtp_reply(s, 553, "5.6.7 Error: non-ASCII address requires SMTPUTF8"); return;
    }
    if (a.size >= 0 && (unsigned long long)a.size > s->cfg->max_message_size) {
        smtp_reply(s, 552, "5.3.4 Message size exceeds fixed maximum message size");
        return;
    }
    if (!smtp_session_auth_mail(s, a.addr))    /* submission: AUTH, sender grants */
        return;
    smtp_tx *tx = xcalloc(1, sizeof *tx);
    memcpy(tx->mail_from, a.addr, sizeof tx->mail_from);
    tx->declared_size = a.size;
    tx->body_8bit = a.body_8bit;
    tx->smtputf8 = a.smtputf8;
    tx->dsn_ret = a.ret;
    memcpy(tx->dsn_envid, a.envid, sizeof tx->dsn_envid);
    s->tx = tx;
    if (s->cfg->mail_check != NULL && s->cfg->mail_check(s->arg, s, tx) != 0) {
        if (tx->reply_code >= 400 && tx->reply_code <= 599 && tx->reply_text[0] != '\0')
            smtp_reply(s, tx->reply_code, "%s", tx->reply_text);
        else
            smtp_reply(s, 550, "5.7.1 Sender address rejected");
        smtp_session_tx_rollback(s);         /* after the reply: it saw the reason */
        return;
    }
    smtp_reply(s, 250, "2.1.0 Ok");
}

static void smtp_cmd_rcpt(smtp_session *s, const smtp_cmd *c)
{
    smtp_tx *tx = s->tx;
    if (tx == NULL) {
        smtp_reply(s, 503, "5.5.1 Error: need MAIL command");
        return;
    }
    smtp_rcpt_args ra;
    enum smtp_path_error e = smtp_rcpt_parse(c->arg, s->esmtp, tx->smtputf8, &ra);
    const char *addr = ra.addr;
    if (e != SMTP_PATH_OK)
        tx->nrejected++;
    switch (e) {
    case SMTP_PATH_OK: break;
    case SMTP_PATH_SYNTAX:
        smtp_reply(s, 501, "5.5.2 Syntax: RCPT TO:<address>"); return;
    case SMTP_PATH_BAD_ADDR:
        smtp_reply(s, 501, "5.1.3 Bad recipient address syntax"); return;
    case SMTP_PATH_ROUTE:
        smtp_reply(s, 553, "5.7.1 Source routes and %%/! routing are not accepted"); return;
    case SMTP_PATH_BAD_PARAM:
        smtp_reply(s, 501, "5.5.4 Bad RCPT parameter value"); return;
    case SMTP_PATH_UNKNOWN_PARAM:
        smtp_reply(s, 555, "5.5.4 Unsupported RCPT parameter"); return;
    case SMTP_PATH_NEED_UTF8:
        smtp_reply(s, 553, "5.6.7 Error: non-ASCII address requires SMTPUTF8"); return;
    }
    for (size_t i = 0; i < tx->nrcpts; i++) {
        if (strcasecmp(tx->rcpts[i], addr) == 0) {   /* duplicate: once is enough */
            smtp_reply(s, 250, "2.1.5 Ok");
            return;
        }
    }
    if (tx->nrcpts >= s->cfg->max_rcpts) {
        smtp_reply(s, 452, "4.5.3 Error: too many recipients");
        return;
    }
    enum smtp_rcpt_verdict v = s->cfg->rcpt_check(s->arg, addr);
    if (v != SMTP_RCPT_ACCEPT)
        tx->nrejected++;
    switch (v) {
    case SMTP_RCPT_ACCEPT:
        if (tx->nrcpts == tx->cap) {
            tx->cap = tx->cap ? tx->cap * 2 : 4;
            tx->rcpts = xrealloc(tx->rcpts, tx->cap * sizeof *tx->rcpts);
            tx->orcpt = xrealloc(tx->orcpt, tx->cap * sizeof *tx->orcpt);
            tx->notify = xrealloc(tx->notify, tx->cap * sizeof *tx->notify);
        }
        tx->notify[tx->nrcpts] = ra.notify;
        tx->orcpt[tx->nrcpts] = ra.orcpt[0] ? xstrdup(ra.orcpt) : NULL;
        tx->rcpts[tx->nrcpts++] = xstrdup(addr);
        smtp_reply(s, 250, "2.1.5 Ok");
        break;
    case SMTP_RCPT_UNKNOWN:
        smtp_reply(s, 550, "5.1.1 <%s>: Recipient address rejected: User unknown", addr);
        break;
    case SMTP_RCPT_RELAY_DENIED:
        smtp_reply(s, 554, "5.7.1 <%s>: Relay access denied", addr);
        break;
    case SMTP_RCPT_TEMPFAIL:
        smtp_reply(s, 451, "4.4.3 <%s>: Recipient address lookup failed, try again later", addr);
        break;
    case SMTP_RCPT_REFUSED:         /* e.g. a DNSBL listing (smtp_dnsbl.h) */
        if (tx->reply_code >= 400 && tx->reply_code <= 599 && tx->reply_text[0] != '\0')
            smtp_reply(s, tx->reply_code, "%s", tx->reply_text);
        else
            smtp_reply(s, 554, "5.7.1 <%s>: Recipient address rejected", addr);
        tx->reply_code = 0;         /* not to be reused by the commit */
        tx->reply_text[0] = '\0';
        tx->reply_reason = NULL;
        break;
    }
}

static void smtp_cmd_data(smtp_session *s, const smtp_cmd *c)
{
    smtp_tx *tx = s->tx;
    if (tx == NULL) {
        smtp_reply(s, 503, "5.5.1 Error: need MAIL command");
        return;
    }
    if (tx->nrcpts == 0) {
        if (tx->nrejected > 0)
            smtp_reply(s, 554, "5.5.1 Error: no valid recipients");
        else
            smtp_reply(s, 503, "5.5.1 Error: need RCPT command");
        return;
    }
    if (c->arg_len > 0) {
        smtp_reply(s, 501, "5.5.4 Syntax: DATA");
        return;
    }
    if (tx->bdat) {
        smtp_reply(s, 503, "5.5.1 Error: DATA after BDAT");
        return;
    }
    smtp_session_data_start(s, 0);
    s->state = SMTP_STATE_DATA;
    smtp_reply(s, 354, "End data with <CR><LF>.<CR><LF>");
}

static void smtp_session_data_start(smtp_session *s, unsigned opts)
{
    if (s->cfg->bare_lf_normalize)
        opts |= SMTP_DATA_OPT_NORMALIZE;
    smtp_data_init(&s->tx->data, s->cfg->max_message_size, s->cfg->max_header_size, opts);
    s->tx->in_data = 1;
}

/* BDAT <size> [LAST]: the chunk is read in any case; whether it is refused
 * is decided now (bdat_refused), the data checks after the last chunk. */
static void smtp_cmd_bdat(smtp_session *s, const smtp_cmd *c)
{
    unsigned long long size;
    int last;
    if (smtp_bdat_parse(c->arg, &size, &last) != 0) {
        smtp_reply(s, 501, "5.5.4 Syntax: BDAT chunk-size [LAST]");
        return;
    }
    smtp_tx *tx = s->tx;
    s->bdat_refused = 0;
    if (s->helo[0] == '\0' || !s->esmtp)
        s->bdat_refused = 503;
    else if (tx == NULL || tx->nrcpts == 0)
        s->bdat_refused = tx != NULL && tx->nrejected > 0 ? 554 : 503;
    if (!s->bdat_refused && !tx->in_data) {
        smtp_session_data_start(s, SMTP_DATA_OPT_RAW);
        tx->bdat = 1;
    }
    if (!s->bdat_refused)
        tx->bdat_octets += size;
    s->bdat_left = size;
    s->bdat_last = last;
    s->state = SMTP_STATE_BDAT;
    if (size == 0)
        smtp_session_bdat_end(s);
}

static void smtp_session_bdat_end(smtp_session *s)
{
    s->state = SMTP_STATE_CMD;
    if (s->bdat_refused == 554) {
        smtp_reply(s, 554, "5.5.1 Error: no valid recipients");
        return;
    }
    if (s->bdat_refused != 0) {
        if (s->helo[0] == '\0' || !s->esmtp)
            smtp_reply(s, 503, "5.5.1 Error: send EHLO first");
        else
            smtp_reply(s, 503, "5.5.1 Error: need MAIL and RCPT commands");
        return;
    }
    smtp_tx *tx = s->tx;
    if (s->bdat_last) {
        smtp_data_finish(&tx->data);
        smtp_session_data_end(s);
        return;
    }
    if (tx->data.flags & SMTP_DATA_TOO_BIG) {   /* no use reading more */
        smtp_reply(s, 552, "5.3.4 Error: message size exceeds fixed maximum message size");
        smtp_session_tx_rollback(s);
        return;
    }
    smtp_reply(s, 250, "2.0.0 %llu octets received", tx->bdat_octets);
}

/* After the final dot: refuse what is malformed, else commit, then 250. */
static void smtp_session_data_end(smtp_session *s)
{
    smtp_tx *tx = s->tx;
    unsigned f = tx->data.flags;
    s->state = SMTP_STATE_CMD;
    if (f & SMTP_DATA_TOO_BIG) {
        smtp_reply(s, 552, "5.3.4 Error: message size exceeds fixed maximum message size");
    } else if (f & SMTP_DATA_HEADER_BIG) {
        smtp_reply(s, 552, "5.3.4 Error: message header section exceeds the size limit");
    } else if (f & SMTP_DATA_NUL) {
        smtp_reply(s, 550, "5.6.0 Error: NUL byte in message data");
    } else if (f & (SMTP_DATA_BARE_LF | SMTP_DATA_BARE_CR)) {
        smtp_reply(s, 550, "5.6.0 Error: bare CR or LF in message data (lines must end with CRLF)");
    } else if (f & SMTP_DATA_LONG_LINE) {
        smtp_reply(s, 550, "5.6.0 Error: message line longer than 998 octets");
    } else {
        char qid[32];
        qid[0] = '\0';
        if (s->cfg->commit(s->arg, s, tx, qid, sizeof qid) == 0)
            smtp_reply(s, 250, "2.0.0 Ok: queued as %s", qid);
        else if (tx->reply_code >= 400 && tx->reply_code <= 599 && tx->reply_text[0] != '\0')
            smtp_reply(s, tx->reply_code, "%s", tx->reply_text);
        else
            smtp_reply(s, 451, "4.3.0 Error: could not store the message, try again later");
    }
    smtp_session_tx_rollback(s);
}

static int smtp_cmd_starttls(smtp_session *s, const smtp_cmd *c)
{
    if (c->arg_len > 0) {
        smtp_reply(s, 501, "5.5.4 Syntax: STARTTLS");
        return 0;
    }
    if (s->tls) {
        smtp_reply(s, 503, "5.5.1 Error: TLS already active");
        return 0;
    }
    if (!s->cfg->tls_available) {
        smtp_reply(s, 502, "5.5.1 Error: command not implemented");
        return 0;
    }
    smtp_reply(s, 220, "2.0.0 Ready to start TLS");
    smtp_session_reset(s);
    return 1;
}
