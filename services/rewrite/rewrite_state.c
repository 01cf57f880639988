/*
 * rewrite_state.c - start-up configuration of the rewrite service and the
 * resolver that connects classification to PostgreSQL and the lists
 * service (see rewrite.h). Configuration problems here are a broken
 * environment: fatal().
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "rewrite.h"
#include "rewrite_addr.h"
#include "rewrite_store.h"
#include "spool_dmarc.h"
#include "xalloc.h"

/* Splits the secrets file into one secret per non-empty line into v (at
 * most REWRITE_MAX_SECRETS); returns the count. No file configured: 0. */
static size_t state_secrets_file(const config *cfg, char **v)
{
    char err[256];
    size_t n = 0;
    const char *path = config_get(cfg, "MAILYARD_SRS_SECRETS_FILE", NULL);
    if (path == NULL || *path == '\0') {
        log_warn("MAILYARD_SRS_SECRETS_FILE is not set: SRS secrets come from"
                 " rewrite.srs_secrets only");
        return 0;
    }
    char *text = config_secret(cfg, "MAILYARD_SRS_SECRETS_FILE", err, sizeof(err));
    if (text == NULL)
        fatal("cannot read MAILYARD_SRS_SECRETS_FILE (SRS secrets, one per line)",
              "error", err);
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        size_t len = strlen(line);
        while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' ||
                           line[len - 1] == '\t'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        if (n == REWRITE_MAX_SECRETS)
            fatal("too many SRS secrets", "file", "MAILYARD_SRS_SECRETS_FILE");
        v[n++] = xstrdup(line);
    }
    config_secret_free(text);
    if (n == 0)
        fatal("MAILYARD_SRS_SECRETS_FILE holds no secret");
    return n;
}

static void state_secrets_load(rewrite_state *st, const config *cfg, int reload)
{
    char *v[REWRITE_MAX_SECRETS];
    size_t n = state_secrets_file(cfg, v);
    st->secrets = rewrite_secrets_create(st->svc->db, st->db_timeout_ms, v, n, reload);
    for (size_t i = 0; i < n; i++) {
        memset(v[i], 0, strlen(v[i]));
        free(v[i]);
    }
}

const rewrite_secrets_snap *rewrite_state_srs(rewrite_state *st, rewrite_srs_conf *out)
{
    const rewrite_secrets_snap *snap = rewrite_secrets_get(st->secrets, time(NULL));
    *out = st->srs;
    out->secrets.secrets = snap->secrets;
    out->secrets.nsecrets = snap->n;
    return snap;
}

/* MAILYARD_REWRITE_POSTMASTER: a checked address, or NULL when unset. */
static char *state_postmaster(const config *cfg)
{
    char norm[REWRITE_ADDR_MAX + 1];
    const char *why = NULL;
    const char *pm = config_get(cfg, "MAILYARD_REWRITE_POSTMASTER", NULL);
    if (pm == NULL || *pm == '\0') {
        log_warn("MAILYARD_REWRITE_POSTMASTER is not set: postmaster@ and abuse@"
                 " without an alias are unknown recipients");
        return NULL;
    }
    if (rewrite_addr_check(pm, norm, sizeof(norm), &why) != 0)
        fatal("MAILYARD_REWRITE_POSTMASTER is not a valid address", "reason", why);
    return xstrdup(norm);
}

static long state_long(const config *cfg, const char *key, long def, long min, long max)
{
    long v = config_get_long(cfg, key, def);
    if (v < min || v > max)
        fatal("configuration value out of range", "key", key);
    return v;
}

void rewrite_state_init(rewrite_state *st, service *svc)
{
    const config *cfg = svc->cfg;
    memset(st, 0, sizeof(*st));
    st->svc = svc;

    st->db_timeout_ms = (int)state_long(cfg, "MAILYARD_DB_ACQUIRE_TIMEOUT_MS", 5000,
                                        1, 600000);
    state_secrets_load(st, cfg,
                       (int)state_long(cfg, "MAILYARD_SRS_RELOAD_SECONDS", 2, 1, 3600));
    const char *delim = config_get(cfg, "MAILYARD_REWRITE_RECIPIENT_DELIMITER", "+");
    if (strchr(delim, '@') != NULL || strlen(delim) > 8)
        fatal("MAILYARD_REWRITE_RECIPIENT_DELIMITER must be at most 8 characters, no '@'");
    st->delimiters = *delim ? xstrdup(delim) : NULL;
    const char *vd = config_get(cfg, "MAILYARD_VERP_DELIMITERS", "+=");
    if (strlen(vd) != 2 || vd[0] == vd[1] || strchr(vd, '@') != NULL)
        fatal("MAILYARD_VERP_DELIMITERS must be two different characters, no '@'");
    memcpy(st->verp_delims, vd, 2);
    st->postmaster = state_postmaster(cfg);
    const char *dom = config_get(cfg, "MAILYARD_SRS_DOMAIN", NULL);
    if (dom != NULL && *dom != '\0') {
        char norm[256];
        if (rewrite_addr_domain_normalize(dom, norm, sizeof(norm)) != 0)
            fatal("MAILYARD_SRS_DOMAIN is not a valid domain name", "value", dom);
        st->srs_domain = xstrdup(norm);
    }
    st->srs.secrets.max_age_days =
        (int)state_long(cfg, "MAILYARD_SRS_MAX_AGE_DAYS", 21, 1, 365);
    st->srs.domain = st->srs_domain;

    st->plan.max_depth = (int)state_long(cfg, "MAILYARD_REWRITE_MAX_DEPTH", 10, 1, 100);
    st->plan.max_targets =
        (size_t)state_long(cfg, "MAILYARD_REWRITE_MAX_TARGETS", 1000, 1, 1000000);
    st->max_alias_targets =
        state_long(cfg, "MAILYARD_REWRITE_MAX_ALIAS_TARGETS", 1000, 1, 100000);
    st->max_page = state_long(cfg, "MAILYARD_REWRITE_MAX_PAGE", 1000, 1, 100000);
    st->max_import = state_long(cfg, "MAILYARD_REWRITE_MAX_IMPORT", 10000, 1, 1000000);

    const char *host = config_get(cfg, "MAILYARD_HOSTNAME", NULL);
    if (host == NULL || *host == '\0') {
        if (gethostname(st->reporting_mta, sizeof(st->reporting_mta) - 1) != 0)
            str_copy(st->reporting_mta, sizeof(st->reporting_mta), "localhost");
    } else if (str_copy(st->reporting_mta, sizeof(st->reporting_mta), host) != 0) {
        fatal("MAILYARD_HOSTNAME is too long");
    }

    const char *url = config_get(cfg, "MAILYARD_LISTS_URL", "http://127.0.0.1:9103");
    long timeout = state_long(cfg, "MAILYARD_REWRITE_LISTS_TIMEOUT_MS", 2000, 1, 60000);
    long cache = state_long(cfg, "MAILYARD_REWRITE_LISTS_CACHE_SECONDS", 10, 0, 3600);
    st->lists = rewrite_lists_create(url, svc->admin_token, timeout, (int)cache);
    static const char *const labels[] = { "event", NULL };
    st->m_decisions = metrics_counter(svc->metrics, "mailyard_rewrite_decisions_total",
                                      "Recipient decisions of the rewrite stage, by event",
                                      labels);
    rewrite_dmarc_init(&st->dmarc, cfg);
    log_info("rewrite configured", "srs_domain",
             st->srs_domain ? st->srs_domain : "(alias domain)", "lists_url", url);
}

void rewrite_state_release(rewrite_state *st)
{
    if (st == NULL)
        return;
    rewrite_secrets_free(st->secrets);
    free(st->srs_domain);
    free(st->delimiters);
    free(st->postmaster);
    rewrite_lists_free(st->lists);
    rewrite_dmarc_release(&st->dmarc);
    memset(st, 0, sizeof(*st));
}

static int lookup_domain(void *arg, const char *domain)
{
    rewrite_lookup *lk = arg;
    return rewrite_store_domain_exists(lk->db, domain);
}

static int lookup_alias(void *arg, const char *addr, strlist *out)
{
    rewrite_lookup *lk = arg;
    return rewrite_store_alias_targets(lk->db, addr, out);
}

static int lookup_list(void *arg, const char *addr)
{
    rewrite_lookup *lk = arg;
    return rewrite_lists_exists(lk->lists, addr);
}

static int lookup_dmarc_seen(void *arg, const char *author)
{
    rewrite_lookup *lk = arg;
    return spool_dmarc_seen(lk->db, author, lk->st->dmarc.window_days);
}

void rewrite_resolver_init(rewrite_resolver *r, rewrite_lookup *lk)
{
    r->domain_is_ours = lookup_domain;
    r->alias_get = lookup_alias;
    r->list_exists = lookup_list;
    r->arg = lk;
    r->delimiters = lk->st ? lk->st->delimiters : NULL;
    r->postmaster = lk->st ? lk->st->postmaster : NULL;
    r->dmarc_domain = lk->st ? lk->st->dmarc.encode_domain : NULL;
    r->dmarc_seen = lk->st ? lookup_dmarc_seen : NULL;
}
