/*
 * rewrite_classify.c - recipient classification (see rewrite_classify.h).
 * Pure logic over a resolver; SRS verification through libcommon's srs.h.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "rewrite_addr.h"
#include "rewrite_classify.h"
#include "xalloc.h"

static const char *const class_names[] = {
    [REWRITE_FOREIGN] = "foreign",
    [REWRITE_ALIAS] = "alias",
    [REWRITE_SRS] = "srs",
    [REWRITE_SRS_INVALID] = "srs_invalid",
    [REWRITE_LIST] = "list",
    [REWRITE_UNKNOWN] = "unknown",
};

const char *rewrite_class_name(enum rewrite_class c)
{
    if ((size_t)c >= sizeof(class_names) / sizeof(class_names[0]))
        return "?";
    return class_names[c];
}

void rewrite_class_result_release(rewrite_class_result *res)
{
    if (res == NULL)
        return;
    strlist_release(&res->targets);
    free(res->original);
    res->original = NULL;
    res->why = NULL;
    res->cls = REWRITE_UNKNOWN;
}

/* Reverse an SRS address; fills out->cls and out->original or out->why. */
static void classify_srs(const rewrite_srs_conf *srs, const char *addr,
                         time_t now, rewrite_class_result *out)
{
    char orig[512];
    enum srs_result sr = srs_reverse(&srs->secrets, addr, now, orig, sizeof(orig));
    if (sr == SRS_OK) {
        out->cls = REWRITE_SRS;
        out->original = xstrdup(orig);
        return;
    }
    out->cls = REWRITE_SRS_INVALID;
    out->why = srs_result_text(sr);
}

enum rewrite_err rewrite_classify(const rewrite_resolver *r,
                                  const rewrite_srs_conf *srs,
                                  const char *addr, time_t now,
                                  rewrite_class_result *out)
{
    char lower[REWRITE_ADDR_MAX + 1];
    memset(out, 0, sizeof(*out));
    out->cls = REWRITE_UNKNOWN;

    const char *dom = addr_domain(addr);
    if (dom == NULL || *dom == '\0' || str_copy(lower, sizeof(lower), addr) != 0)
        return REWRITE_OK;
    rewrite_addr_lower(lower);
    dom = addr_domain(lower);
    int is_srs_domain = srs->domain != NULL && strcasecmp(dom, srs->domain) == 0;
    int ours = is_srs_domain;
    if (!ours) {
        int rc = r->domain_is_ours(r->arg, dom);
        if (rc < 0)
            return REWRITE_ERR_DB;
        ours = rc;
    }
    if (!ours) {
        out->cls = REWRITE_FOREIGN;
        return REWRITE_OK;
    }
    if (srs_is_srs(addr) && (srs->domain == NULL || is_srs_domain)) {
        classify_srs(srs, addr, now, out);
        return REWRITE_OK;
    }
    int rc = r->alias_get(r->arg, lower, &out->targets);
    if (rc < 0) {
        rewrite_class_result_release(out);
        return REWRITE_ERR_DB;
    }
    if (rc > 0) {
        out->cls = REWRITE_ALIAS;
        return REWRITE_OK;
    }
    rc = r->list_exists(r->arg, lower);
    if (rc < 0)
        return REWRITE_ERR_LISTS;
    out->cls = rc > 0 ? REWRITE_LIST : REWRITE_UNKNOWN;
    return REWRITE_OK;
}
