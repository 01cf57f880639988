/*
 * rewrite_dmarc.c - DMARC From mitigation for alias forwards and the
 * encoded-address replies (see rewrite_dmarc.h).
 *
 * Configuration (docs/rewrite.md):
 *   MAILYARD_DNS_SERVERS               resolvers "ip[@port],..." ("" = resolv.conf)
 *   MAILYARD_DNS_TIMEOUT_MS            per look-up (5000)
 *   MAILYARD_DMARC_ENCODE_DOMAIN       domain of encode-address From addresses
 *   MAILYARD_DMARC_REPLY_WINDOW_DAYS   replies accepted this long after the
 *                                      author was last seen encoded (30)
 *   MAILYARD_REWRITE_HDR_MAX_FIELDS / _FIELD_LEN  header limits (1000 / 65536)
 *
 * The forward side runs in the rewrite job's transaction, after the plan
 * is built and before its relay jobs are recorded. A From that cannot be
 * mitigated (unparseable) leaves the forward as it is: it is logged, never
 * a reason to lose or bounce the message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "rewrite.h"
#include "rewrite_addr.h"
#include "rewrite_dmarc.h"
#include "spool.h"
#include "spool_dmarc.h"
#include "xalloc.h"

#define DMARC_HEADROOM 65536

void rewrite_dmarc_init(rewrite_dmarc *d, const config *cfg)
{
    char err[256] = "", norm[256];
    memset(d, 0, sizeof(*d));
    long timeout = config_get_long(cfg, "MAILYARD_DNS_TIMEOUT_MS", 5000);
    d->dns = dns_resolver_create_unbound(config_get(cfg, "MAILYARD_DNS_SERVERS", ""),
                                         timeout > 0 ? (int)timeout : 5000, NULL,
                                         err, sizeof(err));
    if (d->dns == NULL)
        log_warn("no DNS resolver for DMARC policies; aliases with a mitigation mode "
                 "mitigate every forward", "error", err);
    const char *dom = config_get(cfg, "MAILYARD_DMARC_ENCODE_DOMAIN", "");
    if (dom != NULL && *dom != '\0') {
        if (rewrite_addr_domain_normalize(dom, norm, sizeof(norm)) != 0)
            fatal("MAILYARD_DMARC_ENCODE_DOMAIN is not a valid domain name", "value", dom);
        d->encode_domain = xstrdup(norm);
    }
    d->window_days = config_get_long(cfg, "MAILYARD_DMARC_REPLY_WINDOW_DAYS", 30);
    if (d->window_days < 1 || d->window_days > 3650)
        fatal("MAILYARD_DMARC_REPLY_WINDOW_DAYS must be 1..3650");
    long f = config_get_long(cfg, "MAILYARD_REWRITE_HDR_MAX_FIELDS", 1000);
    long l = config_get_long(cfg, "MAILYARD_REWRITE_HDR_MAX_FIELD_LEN", 65536);
    d->hdr_max_fields = f > 0 ? (size_t)f : 1000;
    d->hdr_max_field_len = l > 0 ? (size_t)l : 65536;
}

void rewrite_dmarc_release(rewrite_dmarc *d)
{
    dns_resolver_free(d->dns);
    free(d->encode_domain);
    memset(d, 0, sizeof(*d));
}

int rewrite_dmarc_alias_get(db_conn *c, const char *addr, enum dmarc_mitigation *mode,
                            int *always)
{
    PGresult *r = db_queryv(c, "SELECT dmarc_mitigation, dmarc_mitigation_always"
                               " FROM rewrite.aliases WHERE address = $1", 1, addr);
    if (r == NULL) {
        log_error("rewrite_dmarc_alias_get failed", "error", db_conn_error(c));
        return -1;
    }
    int found = PQntuples(r) > 0;
    *mode = DMARC_MIT_NONE;
    *always = 0;
    if (found) {
        if (dmarc_mitigation_parse(PQgetvalue(r, 0, 0), mode) != 0)
            *mode = DMARC_MIT_NONE;
        *always = PQgetvalue(r, 0, 1)[0] == 't';
    }
    PQclear(r);
    return found;
}

int rewrite_dmarc_alias_set(db_conn *c, const char *addr, const char *mode, int always)
{
    PGresult *r = db_queryv(c, "UPDATE rewrite.aliases SET dmarc_mitigation = $2,"
                               " dmarc_mitigation_always = $3::boolean, updated_at = now()"
                               " WHERE address = $1 RETURNING address",
                            3, addr, mode, always ? "true" : "false");
    if (r == NULL) {
        log_error("rewrite_dmarc_alias_set failed", "error", db_conn_error(c));
        return -1;
    }
    int found = PQntuples(r) > 0;
    PQclear(r);
    return found;
}

/* 1 when rcpt is in one of p's relay groups. */
static int divert_has(const rewrite_plan *p, const char *rcpt)
{
    for (size_t g = 0; g < p->nrelays; g++)
        for (size_t i = 0; i < p->relays[g].rcpts.n; i++)
            if (strcasecmp(p->relays[g].rcpts.v[i], rcpt) == 0)
                return 1;
    return 0;
}

/* Removes entry i of l (which has one). */
static void divert_list_drop(strlist *l, size_t i)
{
    free(l->v[i]);
    memmove(l->v + i, l->v + i + 1, (l->n - i - 1) * sizeof(*l->v));
    l->n--;
}

/* Takes rcpt (and its root, the parallel entry) out of p's relay groups,
 * dropping a group left empty. */
static void divert_take(rewrite_plan *p, const char *rcpt)
{
    for (size_t g = 0; g < p->nrelays; g++) {
        strlist *l = &p->relays[g].rcpts, *roots = &p->relays[g].roots;
        for (size_t i = 0; i < l->n; i++) {
            if (strcasecmp(l->v[i], rcpt) != 0)
                continue;
            divert_list_drop(l, i);
            if (i < roots->n)
                divert_list_drop(roots, i);
            if (l->n == 0) {
                free(p->relays[g].mail_from);
                strlist_release(l);
                strlist_release(roots);
                memmove(p->relays + g, p->relays + g + 1,
                        (p->nrelays - g - 1) * sizeof(*p->relays));
                p->nrelays--;
            }
            return;
        }
    }
}

/* The author domain's policy for msg, looked up once. */
typedef struct divert_policy {
    int               looked;
    int               have_domain;
    enum dmarc_policy policy;
} divert_policy;

static void divert_policy_get(rewrite_state *st, const hdr_msg *h, divert_policy *dp)
{
    char domain[256];
    if (dp->looked)
        return;
    dp->looked = 1;
    dp->policy = DMARC_P_QUARANTINE;
    char *from = hdr_get_value(h, "From");
    dp->have_domain = from != NULL && dmarc_from_domain(from, domain, sizeof(domain)) == 0;
    free(from);
    if (dp->have_domain && st->dmarc.dns != NULL)
        dmarc_mitigate_policy(st->dmarc.dns, domain, &dp->policy);
}

/* One mitigated forward: child message, relay job, event. */
static int divert_one(rewrite_state *st, worker_job_ctx *ctx, const spool_message *msg,
                      const char *alias, enum dmarc_mitigation mode, const char *policy,
                      const char *sender, strlist *rcpts)
{
    enum hdr_error herr = HDR_OK;
    dmarc_mitigate_result res;
    buf raw;
    int rc = -1;

    hdr_msg *m = hdr_parse(msg->raw, msg->raw_len, st->dmarc.hdr_max_fields,
                           st->dmarc.hdr_max_field_len, &herr);
    dmarc_mitigate_info info = { .address = alias, .name = "",
                                 .encode_domain = st->dmarc.encode_domain };
    buf_init(&raw, msg->raw_len + DMARC_HEADROOM);
    if (m == NULL || dmarc_mitigate_apply(m, mode, &info, &res) != 0 ||
        hdr_serialize(m, &raw) != 0) {
        log_warn("DMARC mitigation not possible, forwarded as is", "queue_id",
                 msg->queue_id, "rcpt", alias);
        rc = 1;
        goto out;
    }
    spool_message child = {
        .parent_id = msg->id, .mail_from = (char *)sender, .rcpts = rcpts->v,
        .nrcpts = rcpts->n, .message_id = msg->message_id, .origin = "rewrite",
        .raw = raw.data, .raw_len = raw.len, .smtputf8 = msg->smtputf8,
        .dsn_ret = msg->dsn_ret, .dsn_envid = msg->dsn_envid,
    };
    if (spool_message_insert(ctx->db, &child) != 0)
        goto out;
    json_t *arr = json_array();
    for (size_t i = 0; i < rcpts->n; i++)
        json_array_append_new(arr, json_string(rcpts->v[i]));
    json_t *payload = json_pack("{s:s,s:o}", "mail_from", sender, "rcpts", arr);
    int64_t jid = payload != NULL ? spool_job_create(ctx->db, "relay", child.id, payload, 0,
                                                     ctx->outputs) : -1;
    json_decref(payload);
    if (jid < 0)
        goto out;
    if (res.applied == DMARC_MIT_ENCODE_ADDRESS &&
        spool_dmarc_record(ctx->db, res.author, res.encoded) != 0)
        goto out;
    json_t *d = json_pack("{s:s,s:s,s:s,s:s,s:I,s:s}", "alias", alias,
                          "mode", dmarc_mitigation_text(res.applied), "policy", policy,
                          "author", res.author, "message", (json_int_t)child.id,
                          "queue_id", child.queue_id);
    if (d != NULL && res.encoded[0] != '\0')
        json_object_set_new(d, "encoded", json_string(res.encoded));
    int erc = spool_event(ctx->db, msg->id, ctx->job->id, "rewrite", "dmarc_mitigated", d);
    json_decref(d);
    if (erc == 0) {
        rc = 0;
        log_info("forward DMARC-mitigated", "queue_id", child.queue_id, "rcpt", alias,
                 "mode", dmarc_mitigation_text(res.applied));
    }
out:
    hdr_msg_free(m);
    buf_release(&raw);
    return rc;
}

int rewrite_dmarc_divert(rewrite_state *st, worker_job_ctx *ctx, const spool_message *msg,
                         rewrite_plan *p)
{
    divert_policy dp = { 0 };
    hdr_msg *h = NULL;
    size_t i;
    json_t *e;
    int rc = 0;

    json_array_foreach(p->events, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "event")), "rewritten") != 0)
            continue;
        json_t *d = json_object_get(e, "detail");
        json_t *targets = json_object_get(d, "targets");
        const char *sender = json_string_value(json_object_get(d, "mail_from"));
        const char *root = json_string_value(json_object_get(d, "rcpt"));
        const char *matched = json_string_value(json_object_get(d, "matched"));
        if (sender == NULL || root == NULL || json_array_size(targets) == 0)
            continue;
        enum dmarc_mitigation mode;
        int always;
        int found = rewrite_dmarc_alias_get(ctx->db, matched ? matched : root, &mode, &always);
        if (found < 0) {
            rc = -1;
            break;
        }
        if (found == 0 || mode == DMARC_MIT_NONE)
            continue;
        if (h == NULL) {
            enum hdr_error herr = HDR_OK;
            h = hdr_parse(msg->raw, msg->raw_len, st->dmarc.hdr_max_fields,
                          st->dmarc.hdr_max_field_len, &herr);
            if (h == NULL)
                break;        /* unparseable: the relay sends it as is */
        }
        divert_policy_get(st, h, &dp);
        if ((!dp.have_domain && !always) || !dmarc_mitigate_needed(dp.policy, always))
            continue;
        /* the alias address the author's mail was sent to, never "@domain" */
        const char *alias = matched != NULL && matched[0] != '@' ? matched : root;
        size_t k;
        json_t *t;
        strlist mine = STRLIST_INIT;
        json_array_foreach(targets, k, t) {
            const char *rcpt = json_string_value(t);
            if (rcpt != NULL && divert_has(p, rcpt))
                strlist_add(&mine, rcpt);
        }
        if (mine.n > 0) {
            /* 1: not mitigable, the targets stay in the plain relay job */
            int drc = divert_one(st, ctx, msg, alias, mode,
                                 dp.have_domain ? dmarc_policy_text(dp.policy) : "",
                                 sender, &mine);
            if (drc == 0)
                for (size_t j = 0; j < mine.n; j++)
                    divert_take(p, mine.v[j]);
            else if (drc < 0)
                rc = -1;
        }
        strlist_release(&mine);
        if (rc != 0)
            break;
    }
    hdr_msg_free(h);
    return rc;
}
