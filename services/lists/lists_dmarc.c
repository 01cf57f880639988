/*
 * lists_dmarc.c - DMARC From mitigation of list posts: the list's mode
 * (lists.lists.dmarc_mitigation, set through the API), the author domain's
 * DMARC policy through a cached libunbound resolver (MAILYARD_DNS_SERVERS,
 * like mx), the transformation (libcommon dmarc_mitigate.h), the shared
 * record of encoded authors (libcommon spool_dmarc.h, read by rewrite when
 * a reply comes back) and a "dmarc_mitigated" trace event on the post.
 *
 * Called by lists_distribute() on the parsed post before the List-* fields
 * are added, inside the distribution's transaction.
 *
 * Configuration (docs/lists.md):
 *   MAILYARD_DNS_SERVERS           resolvers "ip[@port],..." ("" = resolv.conf)
 *   MAILYARD_DNS_TIMEOUT_MS        per look-up (5000)
 *   MAILYARD_DMARC_ENCODE_DOMAIN   the domain of encode-address From
 *                                  addresses (unset: encode-address lists
 *                                  fall back to munge-from)
 *
 * Ownership: st->dns is owned by the state (lists_dmarc_release frees it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc_mitigate.h"
#include "log.h"
#include "service.h"
#include "spool_dmarc.h"
#include "lists.h"

void lists_dmarc_init(lists_state *st)
{
    char err[256] = "";
    const char *servers = config_get(st->svc->cfg, "MAILYARD_DNS_SERVERS", "");
    long timeout = config_get_long(st->svc->cfg, "MAILYARD_DNS_TIMEOUT_MS", 5000);
    const char *enc = config_get(st->svc->cfg, "MAILYARD_DMARC_ENCODE_DOMAIN", "");

    st->encode_domain = enc != NULL && enc[0] != '\0' ? enc : NULL;
    st->dns = dns_resolver_create_unbound(servers, timeout > 0 ? (int)timeout : 5000,
                                          NULL, err, sizeof err);
    if (st->dns == NULL)
        log_warn("no DNS resolver for DMARC policies; lists with a mitigation mode "
                 "mitigate every post", "error", err);
}

void lists_dmarc_release(lists_state *st)
{
    dns_resolver_free(st->dns);
    st->dns = NULL;
}

int lists_dmarc_apply(lists_state *st, db_conn *c, const lists_list *l, hdr_msg *m,
                      const spool_message *orig, int64_t job_id)
{
    enum dmarc_mitigation mode = DMARC_MIT_NONE;
    char domain[256];
    enum dmarc_policy policy = DMARC_P_QUARANTINE;

    if (l->dmarc_mitigation == NULL ||
        dmarc_mitigation_parse(l->dmarc_mitigation, &mode) != 0 || mode == DMARC_MIT_NONE)
        return LISTS_OK;
    char *from = hdr_get_value(m, "From");
    int drc = from != NULL ? dmarc_from_domain(from, domain, sizeof domain) : -1;
    free(from);
    if (drc != 0 && !l->dmarc_always)
        return LISTS_OK;       /* no single author domain: nothing to align */
    if (drc == 0 && st->dns != NULL)
        dmarc_mitigate_policy(st->dns, domain, &policy);
    if (!dmarc_mitigate_needed(policy, l->dmarc_always))
        return LISTS_OK;

    dmarc_mitigate_info info = {
        .address = l->address, .name = l->name, .encode_domain = st->encode_domain,
    };
    dmarc_mitigate_result res;
    if (dmarc_mitigate_apply(m, mode, &info, &res) != 0) {
        log_warn("DMARC mitigation not possible, post sent as is", "list", l->address,
                 "queue_id", orig->queue_id);
        return LISTS_OK;
    }
    if (res.applied == DMARC_MIT_ENCODE_ADDRESS &&
        spool_dmarc_record(c, res.author, res.encoded) != 0)
        return LISTS_ERR_DB;
    json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:b}", "list", l->address,
                          "mode", dmarc_mitigation_text(res.applied),
                          "policy", drc == 0 ? dmarc_policy_text(policy) : "",
                          "author", res.author, "always", l->dmarc_always);
    if (d != NULL && res.encoded[0] != '\0')
        json_object_set_new(d, "encoded", json_string(res.encoded));
    int erc = spool_event(c, orig->id, job_id, "lists", "dmarc_mitigated", d);
    json_decref(d);
    return erc == 0 ? LISTS_OK : LISTS_ERR_DB;
}
