/*
 * relay_mtasts.c - MTA-STS discovery, policy fetch, parse and cache (see
 * relay_mtasts.h). Owns the cache entries and the curl handles of its
 * fetches (one per fetch; a fetch is rare thanks to the cache).
 *
 * STANDARDS: RFC 8461 §3.1 (TXT), §3.2 (policy), §3.3 (HTTPS, no
 * redirects), §4.1 (MX matching), §5 (caching).
 */
#include "relay_mtasts.h"
#include "relay_dns.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "log.h"
#include "xalloc.h"

#define MTASTS_CACHE_MAX 4096

typedef struct sts_entry {
    char             domain[256];
    relay_sts_policy pol;
    time_t           expires;
} sts_entry;

struct relay_mtasts {
    pthread_mutex_t mu;
    int             port;
    char           *ca_file;      /* owned or NULL */
    int             timeout_s;
    sts_entry      *e;            /* owned */
    size_t          n, cap;
};

typedef struct sts_body {
    char   data[RELAY_MTASTS_BODY_MAX + 1];
    size_t len;
    int    too_big;
} sts_body;

static int    sts_cache_get(relay_mtasts *m, const char *domain, relay_sts_policy *pol);
static void   sts_cache_put(relay_mtasts *m, const char *domain, const relay_sts_policy *pol);
static int    sts_fetch(relay_mtasts *m, dns_resolver *dns, const char *domain,
                        relay_sts_policy *pol, char *why, size_t whylen,
                        const char **result);
static size_t sts_write(char *ptr, size_t size, size_t nmemb, void *arg);
static char  *sts_trim(char *s);

relay_mtasts *relay_mtasts_create(int port, const char *ca_file, int timeout_s)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return NULL;
    relay_mtasts *m = xcalloc(1, sizeof(*m));
    if (pthread_mutex_init(&m->mu, NULL) != 0)
        panic("relay_mtasts_create: mutex");
    m->port = port;
    m->ca_file = ca_file != NULL && ca_file[0] != '\0' ? xstrdup(ca_file) : NULL;
    m->timeout_s = timeout_s;
    return m;
}

void relay_mtasts_free(relay_mtasts *m)
{
    if (m == NULL)
        return;
    pthread_mutex_destroy(&m->mu);
    free(m->ca_file);
    free(m->e);
    free(m);
    curl_global_cleanup();
}

void relay_mtasts_get(relay_mtasts *m, dns_resolver *dns, const char *domain,
                      relay_sts_policy *pol, char *why, size_t whylen)
{
    char txt[8][RELAY_DNS_TXT_MAX], name[300], err[256], id[33] = "";
    size_t ntxt = 0, nvalid = 0;
    relay_sts_policy cached;

    memset(pol, 0, sizeof(*pol));
    why[0] = '\0';
    int have_cached = sts_cache_get(m, domain, &cached);
    if (snprintf(name, sizeof(name), "_mta-sts.%s", domain) >= (int)sizeof(name))
        return;
    enum relay_dns_status ds = relay_dns_txt(dns, name, txt, 8, &ntxt, err, sizeof(err));
    if (ds == RELAY_DNS_OK) {
        for (size_t i = 0; i < ntxt; i++) {
            char tid[33];
            if (strncmp(txt[i], "v=STSv1", 7) != 0)
                continue;
            nvalid++;
            if (relay_mtasts_txt_id(txt[i], tid, sizeof(tid)) == 0)
                memcpy(id, tid, sizeof(id));
        }
    }
    if (nvalid != 1 || id[0] == '\0') {
        /* no (usable) record: a cached, unexpired policy still applies */
        if (have_cached)
            *pol = cached;
        if (ds == RELAY_DNS_TEMPFAIL)
            snprintf(why, whylen, "TXT %s: %s", name, err);
        else if (nvalid > 1)
            snprintf(why, whylen, "%s has %zu STSv1 records", name, nvalid);
        return;
    }
    if (have_cached && strcmp(cached.id, id) == 0) {
        *pol = cached;
        return;
    }
    relay_sts_policy fresh;
    const char *result = "sts-policy-fetch-error";
    memset(&fresh, 0, sizeof(fresh));
    if (sts_fetch(m, dns, domain, &fresh, why, whylen, &result) != 0) {
        if (have_cached) {
            *pol = cached;
        } else {                          /* for TLS-RPT (relay_tlsrpt.h) */
            pol->failure = result;
            (void)snprintf(pol->failure_why, sizeof(pol->failure_why), "%s", why);
        }
        return;
    }
    memcpy(fresh.id, id, sizeof(fresh.id));
    sts_cache_put(m, domain, &fresh);
    *pol = fresh;
}

const char *relay_mtasts_fetch_result(int curl_code, long http_status, int ctype_ok,
                                      int parse_ok)
{
    if (curl_code == CURLE_PEER_FAILED_VERIFICATION)
        return "sts-webpki-invalid";      /* the policy host's certificate failed */
    if (curl_code != CURLE_OK || http_status != 200)
        return "sts-policy-fetch-error";  /* HTTPS error, non-200, a redirect */
    if (!ctype_ok || !parse_ok)
        return "sts-policy-invalid";
    return NULL;
}

int relay_mtasts_txt_id(const char *txt, char *id, size_t idlen)
{
    int seen_v = 0;
    char copy[RELAY_DNS_TXT_MAX], *save = NULL;

    if (str_copy(copy, sizeof(copy), txt) != 0)
        return -1;
    id[0] = '\0';
    for (char *f = strtok_r(copy, ";", &save); f != NULL; f = strtok_r(NULL, ";", &save)) {
        f = sts_trim(f);
        if (!seen_v) {
            if (strcmp(f, "v=STSv1") != 0)
                return -1;
            seen_v = 1;
            continue;
        }
        if (strncmp(f, "id=", 3) == 0) {
            const char *v = f + 3;
            size_t l = strlen(v);
            if (l < 1 || l > 32 || l >= idlen)
                return -1;
            for (size_t i = 0; i < l; i++)
                if (!isalnum((unsigned char)v[i]))
                    return -1;
            memcpy(id, v, l + 1);
        }
    }
    return seen_v && id[0] != '\0' ? 0 : -1;
}

int relay_mtasts_parse(const char *body, size_t len, relay_sts_policy *pol,
                       char *err, size_t errlen)
{
    char line[1024];
    int have_version = 0, have_mode = 0, have_age = 0;
    size_t pos = 0;

    memset(pol, 0, sizeof(*pol));
    while (pos < len) {
        const char *nl = memchr(body + pos, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - (body + pos)) : len - pos;
        if (ll >= sizeof(line)) {
            snprintf(err, errlen, "policy line too long");
            return -1;
        }
        memcpy(line, body + pos, ll);
        line[ll] = '\0';
        pos += ll + (nl ? 1 : 0);
        if (memchr(line, '\0', ll) != NULL) {
            snprintf(err, errlen, "NUL byte in the policy");
            return -1;
        }
        char *colon = strchr(line, ':');
        if (colon == NULL) {
            if (sts_trim(line)[0] == '\0')
                continue;
            snprintf(err, errlen, "policy line without ':'");
            return -1;
        }
        *colon = '\0';
        char *k = sts_trim(line), *v = sts_trim(colon + 1);
        if (strcmp(k, "version") == 0) {
            if (strcmp(v, "STSv1") != 0) {
                snprintf(err, errlen, "unknown policy version");
                return -1;
            }
            have_version = 1;
        } else if (strcmp(k, "mode") == 0) {
            have_mode = 1;
            if (strcmp(v, "enforce") == 0)
                pol->mode = RELAY_STS_ENFORCE;
            else if (strcmp(v, "testing") == 0)
                pol->mode = RELAY_STS_TESTING;
            else if (strcmp(v, "none") == 0)
                pol->mode = RELAY_STS_NONE;
            else {
                snprintf(err, errlen, "unknown policy mode");
                return -1;
            }
        } else if (strcmp(k, "max_age") == 0) {
            char *e = NULL;
            long a = strtol(v, &e, 10);
            if (e == v || *e != '\0' || a < 0) {
                snprintf(err, errlen, "bad max_age");
                return -1;
            }
            pol->max_age = a > RELAY_MTASTS_MAX_AGE ? RELAY_MTASTS_MAX_AGE : a;
            have_age = 1;
        } else if (strcmp(k, "mx") == 0) {
            if (pol->nmx == RELAY_MTASTS_MAX_MX)
                continue;   /* more patterns than we keep: ignore the rest */
            if (v[0] == '\0' || str_copy(pol->mx[pol->nmx], sizeof(pol->mx[0]), v) != 0) {
                snprintf(err, errlen, "bad mx pattern");
                return -1;
            }
            for (char *p = pol->mx[pol->nmx]; *p != '\0'; p++)
                *p = (char)tolower((unsigned char)*p);
            pol->nmx++;
        }
        /* other keys: ignored (extensions) */
    }
    if (!have_version || !have_mode || !have_age) {
        snprintf(err, errlen, "policy lacks version, mode or max_age");
        return -1;
    }
    if (pol->mode != RELAY_STS_NONE && pol->nmx == 0) {
        snprintf(err, errlen, "policy has no mx");
        return -1;
    }
    return 0;
}

int relay_mtasts_mx_match(const relay_sts_policy *pol, const char *host)
{
    char h[256];
    if (str_copy(h, sizeof(h), host) != 0)
        return 0;
    size_t hl = strlen(h);
    if (hl > 0 && h[hl - 1] == '.')
        h[--hl] = '\0';
    for (size_t i = 0; i < pol->nmx; i++) {
        const char *p = pol->mx[i];
        if (strncmp(p, "*.", 2) == 0) {
            /* the wildcard stands for exactly one leftmost label */
            const char *dot = strchr(h, '.');
            if (dot != NULL && dot != h && strcasecmp(dot + 1, p + 2) == 0)
                return 1;
        } else if (strcasecmp(h, p) == 0) {
            return 1;
        }
    }
    return 0;
}

static int sts_fetch(relay_mtasts *m, dns_resolver *dns, const char *domain,
                     relay_sts_policy *pol, char *why, size_t whylen, const char **result)
{
    char host[300], url[400], resolve[400], err[256], perr[128];
    relay_addr addrs[RELAY_DNS_MAX_ADDRS];
    size_t naddrs = 0;
    int rc = -1;

    snprintf(host, sizeof(host), "mta-sts.%s", domain);
    if (relay_dns_addrs(dns, host, m->port, addrs, &naddrs, err, sizeof(err)) !=
            RELAY_DNS_OK || naddrs == 0) {
        snprintf(why, whylen, "policy host %s: %s", host, naddrs == 0 ? err : "no address");
        return -1;
    }
    int v6 = addrs[0].sa.ss_family == AF_INET6;
    snprintf(url, sizeof(url), "https://%s:%d/.well-known/mta-sts.txt", host, m->port);
    snprintf(resolve, sizeof(resolve), "%s:%d:%s%s%s", host, m->port, v6 ? "[" : "",
             addrs[0].text, v6 ? "]" : "");
    CURL *c = curl_easy_init();
    struct curl_slist *res = curl_slist_append(NULL, resolve);
    sts_body *b = xcalloc(1, sizeof(*b));
    if (c == NULL || res == NULL) {
        snprintf(why, whylen, "curl init failed");
        goto out;
    }
    char ebuf[CURL_ERROR_SIZE] = "";
    long status = 0;
    if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_RESOLVE, res) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
        (m->ca_file != NULL && curl_easy_setopt(c, CURLOPT_CAINFO, m->ca_file) != CURLE_OK) ||
        curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)m->timeout_s) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_USERAGENT, "mailyard-relay") != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sts_write) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_WRITEDATA, b) != CURLE_OK) {
        snprintf(why, whylen, "curl setup failed");
        goto out;
    }
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        snprintf(why, whylen, "fetching %s: %s", url,
                 b->too_big ? "policy larger than 64 KiB" : ebuf[0] ? ebuf : curl_easy_strerror(cc));
        *result = relay_mtasts_fetch_result((int)cc, 0, 0, 0);
        goto out;
    }
    char *ctype = NULL;
    (void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    (void)curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctype);
    if (status != 200) {   /* a redirect is a failure too (RFC 8461 §3.3) */
        snprintf(why, whylen, "fetching %s: HTTP status %ld", url, status);
        *result = relay_mtasts_fetch_result(0, status, 0, 0);
        goto out;
    }
    if (ctype == NULL || strncasecmp(ctype, "text/plain", 10) != 0) {
        snprintf(why, whylen, "fetching %s: Content-Type is not text/plain", url);
        *result = relay_mtasts_fetch_result(0, status, 0, 1);
        goto out;
    }
    if (relay_mtasts_parse(b->data, b->len, pol, perr, sizeof(perr)) != 0) {
        snprintf(why, whylen, "policy of %s: %s", domain, perr);
        *result = relay_mtasts_fetch_result(0, status, 1, 0);
        goto out;
    }
    rc = 0;
out:
    free(b);
    curl_slist_free_all(res);
    if (c != NULL)
        curl_easy_cleanup(c);
    return rc;
}

static size_t sts_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    sts_body *b = arg;
    size_t n = size * nmemb;
    if (n > RELAY_MTASTS_BODY_MAX - b->len) {
        b->too_big = 1;
        return 0;   /* aborts the transfer */
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* A cached policy that has not expired. 1 and *pol, or 0. */
static int sts_cache_get(relay_mtasts *m, const char *domain, relay_sts_policy *pol)
{
    int found = 0;
    time_t now = time(NULL);
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n; i++) {
        if (strcasecmp(m->e[i].domain, domain) == 0) {
            if (m->e[i].expires > now) {
                *pol = m->e[i].pol;
                found = 1;
            }
            break;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return found;
}

static void sts_cache_put(relay_mtasts *m, const char *domain, const relay_sts_policy *pol)
{
    time_t now = time(NULL);
    pthread_mutex_lock(&m->mu);
    size_t i = 0;
    while (i < m->n && strcasecmp(m->e[i].domain, domain) != 0)
        i++;
    if (i == m->n) {
        if (m->n == MTASTS_CACHE_MAX) {   /* full: drop expired ones, else the first */
            size_t k = 0;
            for (size_t j = 0; j < m->n; j++)
                if (m->e[j].expires > now)
                    m->e[k++] = m->e[j];
            m->n = k == MTASTS_CACHE_MAX ? k - 1 : k;
            if (k == MTASTS_CACHE_MAX)
                memmove(&m->e[0], &m->e[1], (m->n) * sizeof(m->e[0]));
        }
        if (m->n == m->cap) {
            m->cap = m->cap ? m->cap * 2 : 16;
            m->e = xrealloc(m->e, m->cap * sizeof(*m->e));
        }
        i = m->n++;
        (void)str_copy(m->e[i].domain, sizeof(m->e[i].domain), domain);
    }
    m->e[i].pol = *pol;
    m->e[i].expires = now + pol->max_age;
    pthread_mutex_unlock(&m->mu);
}

static char *sts_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t l = strlen(s);
    while (l > 0 && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\r'))
        s[--l] = '\0';
    return s;
}
