/*
 * relay_state.c - the relay's configuration and long-lived resources:
 * reads MAILYARD_RELAY_*, MAILYARD_DNS_SERVERS and MAILYARD_HOSTNAME,
 * creates the unbound context (transport mx) or the Maildir (transport
 * maildir), and registers the relay's metrics. Owns what relay_state owns
 * (see relay.h).
 */
#include "relay.h"
#include "relay_dns.h"
#include "relay_dkim.h"
#include "relay_maildir.h"
#include "relay_tmap.h"
#include "relay_conn.h"
#include "relay_mtasts.h"
#include "relay_tlsrpt.h"
#include "relay_dpol.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "xalloc.h"

static int state_smarthost_parse(relay_state *st, const char *v);
static long state_positive(const config *cfg, const char *key, long def);
static int  relay_state_dns(relay_state *st, const config *cfg);
static int  relay_state_tlsrpt(relay_state *st, const config *cfg);

/* The shared resolver, created on first need (MAILYARD_DNS_SERVERS,
 * MAILYARD_RELAY_DNS_TIMEOUT_MS). */
static int relay_state_dns(relay_state *st, const config *cfg)
{
    char err[256];
    if (st->dns != NULL)
        return 0;
    long timeout = config_get_long(cfg, "MAILYARD_RELAY_DNS_TIMEOUT_MS", 10000);
    if (timeout < 100 || timeout > 600000)
        timeout = 10000;
    /* DNSSEC (DANE, relay_dane.h): validated only with a trust anchor */
    const char *ta = config_get(cfg, "MAILYARD_DNS_TRUST_ANCHOR_FILE", "");
    st->dns = dns_resolver_create_unbound(config_get(cfg, "MAILYARD_DNS_SERVERS", ""),
                                          (int)timeout, ta, err, sizeof(err));
    if (st->dns == NULL) {
        log_error("cannot set up the DNS resolver", "error", err);
        return -1;
    }
    return 0;
}

int relay_state_init(relay_state *st, service *svc)
{
    const config *cfg = svc->cfg;
    char err[256];

    memset(st, 0, sizeof(*st));
    atomic_init(&st->maildir_counter, 0);
    st->db = svc->db;

    const char *host = config_get(cfg, "MAILYARD_HOSTNAME", NULL);
    if (host == NULL || host[0] == '\0') {
        if (gethostname(st->hostname, sizeof(st->hostname)) != 0)
            (void)str_copy(st->hostname, sizeof(st->hostname), "localhost");
        st->hostname[sizeof(st->hostname) - 1] = '\0';
    } else if (str_copy(st->hostname, sizeof(st->hostname), host) != 0) {
        log_error("MAILYARD_HOSTNAME is too long");
        return -1;
    }
    const char *helo = config_get(cfg, "MAILYARD_RELAY_HELO", st->hostname);
    if (helo[0] == '\0' || strpbrk(helo, " \r\n") != NULL ||
        str_copy(st->helo, sizeof(st->helo), helo) != 0) {
        log_error("MAILYARD_RELAY_HELO is not a valid host name", "value", helo);
        return -1;
    }
    st->smtp_port = (int)config_get_long(cfg, "MAILYARD_RELAY_SMTP_PORT", 25);
    if (st->smtp_port < 1 || st->smtp_port > 65535) {
        log_error("MAILYARD_RELAY_SMTP_PORT out of range");
        return -1;
    }
    st->timeout_s = (int)state_positive(cfg, "MAILYARD_RELAY_TIMEOUT_SECONDS", 60);
    st->retry_base = state_positive(cfg, "MAILYARD_RELAY_RETRY_BASE_SECONDS", 300);
    st->retry_max = state_positive(cfg, "MAILYARD_RELAY_RETRY_MAX_SECONDS", 4200);
    st->max_age = state_positive(cfg, "MAILYARD_RELAY_MAX_AGE_SECONDS", 432000);

    st->delay_warning = config_get_long(cfg, "MAILYARD_RELAY_DELAY_WARNING_SECONDS", 14400);
    if (st->delay_warning < 0) {
        log_error("MAILYARD_RELAY_DELAY_WARNING_SECONDS must be 0 (off) or positive");
        return -1;
    }
    const char *tls = config_get(cfg, "MAILYARD_RELAY_TLS", "may");
    if (strcmp(tls, "may") == 0) {
        st->tls_mode = RELAY_TLS_MAY;
    } else if (strcmp(tls, "encrypt") == 0) {
        st->tls_mode = RELAY_TLS_ENCRYPT;
    } else if (strcmp(tls, "verify") == 0) {
        st->tls_mode = RELAY_TLS_VERIFY;
    } else {
        log_error("MAILYARD_RELAY_TLS must be may, encrypt or verify", "value", tls);
        return -1;
    }
    st->ca_file = config_get(cfg, "MAILYARD_RELAY_CA_FILE", "");
    if (st->ca_file[0] == '\0') {
        st->ca_file = NULL;
    } else if (access(st->ca_file, R_OK) != 0) {
        log_error("MAILYARD_RELAY_CA_FILE is not readable", "path", st->ca_file);
        return -1;
    }

    long idle = config_get_long(cfg, "MAILYARD_RELAY_CONN_IDLE_SECONDS", 10);
    long conc = config_get_long(cfg, "MAILYARD_RELAY_DEST_CONCURRENCY", 10);
    if (idle < 0 || idle > 3600 || conc < 1 || conc > 10000) {
        log_error("MAILYARD_RELAY_CONN_IDLE_SECONDS must be 0..3600 and "
                  "MAILYARD_RELAY_DEST_CONCURRENCY 1..10000");
        return -1;
    }
    st->conns = relay_conn_pool_create(idle, (int)conc);
    st->dpol = relay_dpol_create(config_get(cfg, "MAILYARD_RELAY_DOMAIN_POLICY", ""), (int)conc,
                                 err, sizeof(err));
    if (st->dpol == NULL) {
        log_error("MAILYARD_RELAY_DOMAIN_POLICY is malformed", "error", err);
        return -1;
    }
    st->dkim = relay_dkim_cache_create();
    st->verp = config_get_bool(cfg, "MAILYARD_RELAY_VERP", 0);
    const char *vd = config_get(cfg, "MAILYARD_VERP_DELIMITERS", "+=");
    if (strlen(vd) != 2 || vd[0] == vd[1] || strpbrk(vd, "@<>\"\\ \t\r\n") != NULL) {
        log_error("MAILYARD_VERP_DELIMITERS must be two different characters, not @ <> quotes "
                  "or white space", "value", vd);
        return -1;
    }
    memcpy(st->verp_delims, vd, 2);
    const char *kdir = config_get(cfg, "MAILYARD_RELAY_DKIM_KEY_DIR", "");
    if (kdir[0] != '\0') {
        st->dkim_files = relay_dkim_files_load(kdir, err, sizeof(err));
        if (st->dkim_files == NULL) {
            log_error("cannot load the DKIM key files", "error", err);
            return -1;
        }
        relay_dkim_cache_set_files(st->dkim, st->dkim_files);
    }

    const char *tr = config_get(cfg, "MAILYARD_RELAY_TRANSPORT", "mx");
    if (strcmp(tr, "mx") == 0) {
        st->transport = RELAY_TRANSPORT_MX;
        if (relay_state_dns(st, cfg) != 0)
            return -1;
    } else if (strcmp(tr, "smarthost") == 0) {
        st->transport = RELAY_TRANSPORT_SMARTHOST;
        if (state_smarthost_parse(st, config_get(cfg, "MAILYARD_RELAY_SMARTHOST", "")) != 0)
            return -1;
    } else if (strcmp(tr, "maildir") == 0) {
        st->transport = RELAY_TRANSPORT_MAILDIR;
        st->maildir = config_get(cfg, "MAILYARD_RELAY_MAILDIR", "");
        if (st->maildir[0] == '\0') {
            log_error("MAILYARD_RELAY_TRANSPORT=maildir needs MAILYARD_RELAY_MAILDIR");
            return -1;
        }
        if (relay_maildir_prepare(st->maildir, err, sizeof(err)) != 0) {
            log_error("cannot prepare the maildir", "error", err);
            return -1;
        }
    } else {
        log_error("MAILYARD_RELAY_TRANSPORT must be mx, smarthost or maildir", "value", tr);
        return -1;
    }

    const char *tmf = config_get(cfg, "MAILYARD_RELAY_TRANSPORT_MAP_FILE", "");
    if (tmf[0] != '\0') {
        st->tmap = relay_tmap_load(tmf, err, sizeof(err));
        if (st->tmap == NULL) {
            log_error("cannot load the transport map", "error", err);
            return -1;
        }
        int needs_dns = 0;
        for (size_t i = 0; i < st->tmap->n; i++)
            if (st->tmap->e[i].route.kind == RELAY_ROUTE_MX)
                needs_dns = 1;
        if (needs_dns && relay_state_dns(st, cfg) != 0)
            return -1;
        char ne[24];
        snprintf(ne, sizeof(ne), "%zu", st->tmap->n);
        log_info("transport map loaded", "path", tmf, "entries", ne);
    }

    int sts_on = config_get_bool(cfg, "MAILYARD_RELAY_MTASTS", 1);
    long sts_port = config_get_long(cfg, "MAILYARD_RELAY_MTASTS_PORT", 443);
    if (sts_port < 1 || sts_port > 65535) {
        log_error("MAILYARD_RELAY_MTASTS_PORT out of range");
        return -1;
    }
    if (sts_on && st->dns != NULL) {
        st->mtasts = relay_mtasts_create((int)sts_port, st->ca_file, st->timeout_s);
        if (st->mtasts == NULL) {
            log_error("cannot initialise libcurl for MTA-STS");
            return -1;
        }
    }

    if (relay_state_tlsrpt(st, cfg) != 0)
        return -1;

    static const char *const result_label[] = { "result", NULL };
    static const double bounds[] = { 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120 };
    st->m_deliveries = metrics_counter(svc->metrics, "mailyard_relay_deliveries_total",
                                       "Delivery outcomes per recipient.", result_label);
    st->m_attempt_seconds = metrics_histogram(svc->metrics, "mailyard_relay_attempt_seconds",
                                              "Duration of one delivery attempt (one "
                                              "transaction to one domain).",
                                              NULL, bounds, sizeof(bounds) / sizeof(bounds[0]));
    char ports[16];
    snprintf(ports, sizeof(ports), "%d", st->smtp_port);
    log_info("relay configured", "transport", tr, "hostname", st->hostname,
             "smtp_port", ports, "tls", tls);
    return 0;
}

void relay_state_free(relay_state *st)
{
    if (st == NULL)
        return;
    relay_dns_free(st->dns);
    st->dns = NULL;
    relay_tmap_free(st->tmap);
    st->tmap = NULL;
    relay_conn_pool_free(st->conns);
    relay_dkim_cache_free(st->dkim);
    relay_dkim_files_free(st->dkim_files);
    st->dkim_files = NULL;
    relay_dpol_free(st->dpol);
    st->dpol = NULL;
    st->conns = NULL;
    relay_mtasts_free(st->mtasts);
    st->mtasts = NULL;
    relay_tlsrpt_sched_stop(st->tlsrpt);
    st->tlsrpt = NULL;
}

/* TLS-RPT (relay_tlsrpt.h): MAILYARD_RELAY_TLSRPT*, the daily sender. */
static int relay_state_tlsrpt(relay_state *st, const config *cfg)
{
    char def[300];
    st->tlsrpt_on = config_get_bool(cfg, "MAILYARD_RELAY_TLSRPT", 1);
    if (str_copy(st->tlsrpt_org, sizeof(st->tlsrpt_org),
                 config_get(cfg, "MAILYARD_RELAY_TLSRPT_ORG", st->hostname)) != 0 ||
        snprintf(def, sizeof(def), "postmaster@%s", st->hostname) >= (int)sizeof(def) ||
        str_copy(st->tlsrpt_contact, sizeof(st->tlsrpt_contact),
                 config_get(cfg, "MAILYARD_RELAY_TLSRPT_CONTACT", def)) != 0 ||
        str_copy(st->tlsrpt_from, sizeof(st->tlsrpt_from),
                 config_get(cfg, "MAILYARD_RELAY_TLSRPT_FROM", def)) != 0) {
        log_error("MAILYARD_RELAY_TLSRPT_ORG, _CONTACT or _FROM too long");
        return -1;
    }
    long iv = config_get_long(cfg, "MAILYARD_RELAY_TLSRPT_INTERVAL_SECONDS", 86400);
    if (iv < 0) {
        log_error("MAILYARD_RELAY_TLSRPT_INTERVAL_SECONDS must be >= 0");
        return -1;
    }
    if (st->tlsrpt_on && iv > 0 && st->db != NULL) {
        st->tlsrpt = relay_tlsrpt_sched_start(st, iv);
        if (st->tlsrpt == NULL) {
            log_error("cannot start the TLS-RPT sender thread");
            return -1;
        }
    }
    return 0;
}

/* "host:port" or "[v6]:port" or "host" (port 25). */
static int state_smarthost_parse(relay_state *st, const char *v)
{
    const char *host = v, *port = NULL;
    size_t hl;

    if (v[0] == '[') {
        const char *end = strchr(v, ']');
        if (end == NULL)
            goto bad;
        host = v + 1;
        hl = (size_t)(end - host);
        if (end[1] == ':')
            port = end + 2;
        else if (end[1] != '\0')
            goto bad;
    } else {
        const char *colon = strrchr(v, ':');
        hl = colon ? (size_t)(colon - v) : strlen(v);
        port = colon ? colon + 1 : NULL;
    }
    if (hl == 0 || hl >= sizeof(st->smarthost))
        goto bad;
    memcpy(st->smarthost, host, hl);
    st->smarthost[hl] = '\0';
    st->smarthost_port = 25;
    if (port != NULL) {
        char *e = NULL;
        long p = strtol(port, &e, 10);
        if (e == port || *e != '\0' || p < 1 || p > 65535)
            goto bad;
        st->smarthost_port = (int)p;
    }
    return 0;
bad:
    log_error("MAILYARD_RELAY_SMARTHOST must be host:port", "value", v);
    return -1;
}

static long state_positive(const config *cfg, const char *key, long def)
{
    long v = config_get_long(cfg, key, def);
    if (v < 1) {
        log_warn("setting must be positive; using the default", "key", key);
        return def;
    }
    return v;
}
