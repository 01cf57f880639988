/*
 * relay_notify.c - collects the failure and success reports of a relay
 * job run and queues one DSN per action (see relay_notify.h). Owns the
 * copies of the recipients' fields until relay_notify_free().
 *
 * STANDARDS: RFC 3461 §4.1 (NOTIFY; success reports when the next hop
 * does not support DSN: §6.2.6.1 "relayed"), RFC 3464 §2.3.3 (Action).
 */
#include "relay_notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsn.h"
#include "log.h"
#include "xalloc.h"

#define NOTIFY_ACTIONS 3   /* failed, relayed, delivered */

typedef struct notify_entry {
    char *rcpt, *status, *diag, *remote, *orcpt;   /* owned; diag/remote/orcpt may be NULL */
} notify_entry;

struct relay_notify {
    notify_entry *e[NOTIFY_ACTIONS];
    size_t        n[NOTIFY_ACTIONS], cap[NOTIFY_ACTIONS];
};

static const enum dsn_action notify_actions[NOTIFY_ACTIONS] = {
    DSN_FAILED, DSN_RELAYED, DSN_DELIVERED
};
static const char *const notify_names[NOTIFY_ACTIONS] = { "failed", "relayed", "delivered" };

relay_notify *relay_notify_create(void)
{
    return xcalloc(1, sizeof(relay_notify));
}

void relay_notify_free(relay_notify *nt)
{
    if (nt == NULL)
        return;
    for (int a = 0; a < NOTIFY_ACTIONS; a++) {
        for (size_t i = 0; i < nt->n[a]; i++) {
            free(nt->e[a][i].rcpt);
            free(nt->e[a][i].status);
            free(nt->e[a][i].diag);
            free(nt->e[a][i].remote);
            free(nt->e[a][i].orcpt);
        }
        free(nt->e[a]);
    }
    free(nt);
}

const char *relay_notify_add(relay_notify *nt, const char *rcpt, const relay_outcome *o,
                             int bounced, const relay_dsnp *dp)
{
    int a;
    if (bounced) {
        if (!relay_dsnp_wants(dp, RELAY_NOTIFY_FAILURE))
            return NULL;
        a = 0;
    } else {
        if (!relay_dsnp_wants(dp, RELAY_NOTIFY_SUCCESS) || o->dsn_passed)
            return NULL;
        a = o->mailbox ? 2 : 1;
    }
    if (nt->n[a] == nt->cap[a]) {
        nt->cap[a] = nt->cap[a] ? nt->cap[a] * 2 : 8;
        nt->e[a] = xrealloc(nt->e[a], nt->cap[a] * sizeof(*nt->e[a]));
    }
    notify_entry *e = &nt->e[a][nt->n[a]++];
    memset(e, 0, sizeof(*e));
    e->rcpt = xstrdup(rcpt);
    e->status = xstrdup(o->status);
    size_t dl = strlen(o->reply) + 8;
    e->diag = xmalloc(dl);
    snprintf(e->diag, dl, "smtp; %s", o->reply);
    if (o->host[0] != '\0' && strncmp(o->host, "maildir:", 8) != 0) {
        size_t hl = strcspn(o->host, "[");
        e->remote = xmalloc(hl + 6);
        snprintf(e->remote, hl + 6, "dns; %.*s", (int)hl, o->host);
    }
    if (dp->orcpt[0] != '\0')
        e->orcpt = xstrdup(dp->orcpt);
    return notify_names[a];
}

int relay_notify_queue(relay_notify *nt, db_conn *c, const char *reporting_mta,
                       const spool_message *msg, const char *mail_from, spool_jobs *out)
{
    for (int a = 0; a < NOTIFY_ACTIONS; a++) {
        if (nt->n[a] == 0)
            continue;
        dsn_rcpt *r = xcalloc(nt->n[a], sizeof(*r));
        for (size_t i = 0; i < nt->n[a]; i++) {
            r[i].rcpt = nt->e[a][i].rcpt;
            r[i].status = nt->e[a][i].status;
            r[i].diagnostic = nt->e[a][i].diag;
            r[i].remote_mta = nt->e[a][i].remote;
            r[i].orcpt = nt->e[a][i].orcpt;
        }
        int q = dsn_queue(c, reporting_mta, msg, mail_from, r, nt->n[a], notify_actions[a],
                          out);
        free(r);
        if (q < 0) {
            log_error("queueing a DSN failed", "queue_id", msg->queue_id,
                      "action", notify_names[a]);
            return -1;
        }
    }
    return 0;
}
