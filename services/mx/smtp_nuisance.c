/*
 * smtp_nuisance.c - block rules and rate limits at connection, MAIL and
 * RCPT (see smtp_nuisance.h). Owns the smtp_blocks and smtp_ratelimit
 * objects; decides the replies and logs each refusal with its reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include "log.h"
#include "xalloc.h"
#include "smtp_blocks.h"
#include "smtp_ratelimit.h"
#include "smtp_nuisance.h"

struct smtp_nuisance {
    smtp_blocks    *blocks;   /* owned */
    smtp_ratelimit *rate;     /* owned */
};

static int smtp_nuisance_rate(smtp_nuisance *n, const char *ip, const char *user,
                              enum smtp_rate_what what, smtp_tx *tx);
static void smtp_nuisance_refuse(smtp_tx *tx, int code, const char *reason,
                                 const char *fmt, const char *arg);

int smtp_nuisance_create(service *svc, smtp_nuisance **out, char *err, size_t errlen)
{
    *out = NULL;
    smtp_nuisance *n = xcalloc(1, sizeof *n);
    if (smtp_ratelimit_create(svc->cfg, svc->redis_url, svc->redis_password, svc->metrics,
                              &n->rate, err, errlen) != 0) {
        free(n);
        return -1;
    }
    if (smtp_blocks_create(svc->cfg, svc->db, &n->blocks, err, errlen) != 0) {
        smtp_ratelimit_free(n->rate);
        free(n);
        return -1;
    }
    *out = n;
    return 0;
}

void smtp_nuisance_free(smtp_nuisance *n)
{
    if (n == NULL)
        return;
    smtp_blocks_free(n->blocks);
    smtp_ratelimit_free(n->rate);
    free(n);
}

static void smtp_nuisance_refuse(smtp_tx *tx, int code, const char *reason,
                                 const char *fmt, const char *arg)
{
    tx->reply_code = code;
    tx->reply_reason = reason;
    snprintf(tx->reply_text, sizeof tx->reply_text, fmt, arg);
}

int smtp_nuisance_connect(smtp_nuisance *n, const char *ip, char *reply, size_t replylen,
                          const char **reason)
{
    smtp_block_hit hit;
    if (n == NULL)
        return 0;
    if (smtp_blocks_match_client(n->blocks, ip, &hit)) {
        log_info("connection refused: blocked network", "client", ip, "rule", hit.rule,
                 "reason", hit.reason);
        snprintf(reply, replylen, "554 5.7.1 Error: access denied for [%s]\r\n", ip);
        *reason = "block";
        return -1;
    }
    if (smtp_ratelimit_hit(n->rate, "ip", ip, SMTP_RATE_CONNECTIONS) == 1) {
        log_info("connection refused: connection rate limit", "client", ip);
        snprintf(reply, replylen, "421 4.7.0 Error: too many connections from [%s], "
                 "rate limit exceeded, try again later\r\n", ip);
        *reason = "ratelimit";
        return -1;
    }
    return 0;
}

/* Counts what for the client IP and, if any, the user. 0, or -1 with the
 * 450 set in tx. Both counters are hit, so each limit sees every event. */
static int smtp_nuisance_rate(smtp_nuisance *n, const char *ip, const char *user,
                              enum smtp_rate_what what, smtp_tx *tx)
{
    int over = smtp_ratelimit_hit(n->rate, "ip", ip, what) == 1;
    if (user != NULL && user[0] != '\0' &&
        smtp_ratelimit_hit(n->rate, "user", user, what) == 1)
        over = 1;
    if (!over)
        return 0;
    smtp_nuisance_refuse(tx, 450, "ratelimit", "4.7.1 Error: %s rate limit exceeded, "
                         "try again later", what == SMTP_RATE_MESSAGES ? "message" : "recipient");
    return -1;
}

int smtp_nuisance_mail(smtp_nuisance *n, const char *ip, const char *user, smtp_tx *tx)
{
    smtp_block_hit hit;
    if (n == NULL)
        return 0;
    if (smtp_blocks_match_sender(n->blocks, tx->mail_from, &hit)) {
        log_info("sender refused: blocked", "client", ip, "from", tx->mail_from,
                 "rule", hit.rule, "reason", hit.reason);
        smtp_nuisance_refuse(tx, 550, "block", "5.7.1 <%.200s>: Sender address rejected: "
                             "access denied", tx->mail_from);
        return -1;
    }
    return smtp_nuisance_rate(n, ip, user, SMTP_RATE_MESSAGES, tx);
}

int smtp_nuisance_rcpt(smtp_nuisance *n, const char *ip, const char *user, const char *addr,
                       smtp_tx *tx)
{
    smtp_block_hit hit;
    if (n == NULL)
        return 0;
    if (smtp_blocks_match_rcpt(n->blocks, addr, &hit)) {
        log_info("recipient refused: blocked", "client", ip, "from", tx->mail_from,
                 "to", addr, "rule", hit.rule, "reason", hit.reason);
        smtp_nuisance_refuse(tx, 550, "block", "5.7.1 <%.200s>: Recipient address rejected: "
                             "access denied", addr);
        return -1;
    }
    return smtp_nuisance_rate(n, ip, user, SMTP_RATE_RECIPIENTS, tx);
}
