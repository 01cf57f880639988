/*
 * rewrite_classify.c - recipient classification (see rewrite_classify.h).
 * Pure logic over a resolver; SRS verification through libcommon's srs.h.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "dmarc_mitigate.h"
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
    free(res->matched);
    res->matched = NULL;
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

/* A reply to a DMARC-encoded From (local=40author.example@dmarc domain):
 * 1 classified (alias to the author, or unknown), 0 not an encoded local
 * part (classify as usual), -1 database error. */
static int classify_dmarc_reply(const rewrite_resolver *r, const char *addr,
                                const char *lower, rewrite_class_result *out)
{
    char local[REWRITE_ADDR_MAX + 1], author[REWRITE_ADDR_MAX + 1];
    const char *at = strrchr(addr, '@');
    size_t n = at != NULL ? (size_t)(at - addr) : 0;
    if (n == 0 || n >= sizeof(local))
        return 0;
    memcpy(local, addr, n);
    local[n] = '\0';
    if (strcasestr(local, "=40") == NULL)
        return 0;
    out->cls = REWRITE_UNKNOWN;
    if (dmarc_mitigate_decode_local(local, author, sizeof(author)) != 0)
        return 1;
    int seen = r->dmarc_seen(r->arg, author);
    if (seen < 0)
        return -1;
    if (seen > 0) {
        out->cls = REWRITE_ALIAS;
        out->matched = xstrdup(lower);
        strlist_add(&out->targets, author);
    }
    return 1;
}

int rewrite_classify_is_bare_postmaster(const char *addr)
{
    return addr != NULL && strcasecmp(addr, "postmaster") == 0;
}

/* Steps 3 and 4 for one key: 1 matched (out filled), 0 not, or -1 with
 * *err set. */
static int classify_key(const rewrite_resolver *r, const char *key,
                        rewrite_class_result *out, enum rewrite_err *err)
{
    int rc = r->alias_get(r->arg, key, &out->targets);
    if (rc < 0) {
        *err = REWRITE_ERR_DB;
        return -1;
    }
    if (rc > 0) {
        out->cls = REWRITE_ALIAS;
        out->matched = xstrdup(key);
        return 1;
    }
    rc = r->list_exists(r->arg, key);
    if (rc < 0) {
        *err = REWRITE_ERR_LISTS;
        return -1;
    }
    if (rc > 0) {
        out->cls = REWRITE_LIST;
        out->matched = xstrdup(key);
        return 1;
    }
    return 0;
}

/* Step 6: postmaster@ / abuse@ (local part of key, extension stripped). */
static int classify_role(const rewrite_resolver *r, const char *key,
                         rewrite_class_result *out)
{
    if (r->postmaster == NULL || *r->postmaster == '\0')
        return 0;
    const char *at = strrchr(key, '@');
    size_t n = at ? (size_t)(at - key) : strlen(key);
    if (!((n == 10 && strncmp(key, "postmaster", 10) == 0) ||
          (n == 5 && strncmp(key, "abuse", 5) == 0)))
        return 0;
    if (strcasecmp(key, r->postmaster) == 0)
        return 0;          /* the destination itself: no self-target */
    out->cls = REWRITE_ALIAS;
    out->matched = xstrdup(key);
    strlist_add(&out->targets, r->postmaster);
    return 1;
}

enum rewrite_err rewrite_classify(const rewrite_resolver *r,
                                  const rewrite_srs_conf *srs,
                                  const char *addr, time_t now,
                                  rewrite_class_result *out)
{
    char lower[REWRITE_ADDR_MAX + 1], base[REWRITE_ADDR_MAX + 1];
    char catchall[REWRITE_ADDR_MAX + 2];
    enum rewrite_err err = REWRITE_OK;
    memset(out, 0, sizeof(*out));
    out->cls = REWRITE_UNKNOWN;

    if (rewrite_classify_is_bare_postmaster(addr)) {
        if (classify_role(r, "postmaster", out) < 0)
            return REWRITE_ERR_DB;
        return REWRITE_OK;
    }
    const char *dom = addr_domain(addr);
    if (dom == NULL || *dom == '\0' || str_copy(lower, sizeof(lower), addr) != 0)
        return REWRITE_OK;
    rewrite_addr_lower(lower);
    dom = addr_domain(lower);
    int is_srs_domain = srs->domain != NULL && strcasecmp(dom, srs->domain) == 0;
    int is_dmarc_domain = r->dmarc_domain != NULL && r->dmarc_seen != NULL &&
                          strcasecmp(dom, r->dmarc_domain) == 0;
    int ours = is_srs_domain || is_dmarc_domain;
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
    if (is_dmarc_domain) {
        int drc = classify_dmarc_reply(r, addr, lower, out);
        if (drc != 0)
            return drc < 0 ? REWRITE_ERR_DB : REWRITE_OK;
    }
    int rc = classify_key(r, lower, out, &err);
    int stripped = rc == 0 ? rewrite_addr_strip_extension(lower, r->delimiters, base,
                                                          sizeof(base)) : 0;
    if (rc == 0 && stripped == 1)
        rc = classify_key(r, base, out, &err);
    if (rc == 0)
        rc = classify_role(r, stripped == 1 ? base : lower, out);
    if (rc == 0 && str_copy(catchall, sizeof(catchall), dom - 1) == 0) {
        catchall[0] = '@';       /* dom - 1 is the '@' of lower */
        int ca = r->alias_get(r->arg, catchall, &out->targets);
        if (ca < 0) {
            err = REWRITE_ERR_DB;
            rc = -1;
        } else if (ca > 0) {
            out->cls = REWRITE_ALIAS;
            out->matched = xstrdup(catchall);
            rc = 1;
        }
    }
    if (rc < 0) {
        rewrite_class_result_release(out);
        return err;
    }
    return REWRITE_OK;
}
