/*
 * relay_tmap.c - the transport map: parser, loader (with the credential
 * files) and lookup. See relay_tmap.h for the format. Owns the map it
 * returns.
 */
#include "relay_tmap.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "xalloc.h"

#define TMAP_FILE_MAX  (4u << 20)
#define TMAP_CRED_MAX  1024

static int  tmap_line(relay_tmap_entry *e, char *line, char *err, size_t errlen);
static int  tmap_transport(relay_route *r, const char *v, char *err, size_t errlen);
static int  tmap_option(relay_route *r, const char *v, char *err, size_t errlen);
static int  tmap_read(const char *path, size_t max, char **data, size_t *len, char *err,
                      size_t errlen);
static int  tmap_credentials(relay_route *r, char *err, size_t errlen);
static void tmap_lower(char *s);
static void tmap_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

relay_tmap *relay_tmap_parse(const char *text, size_t len, char *err, size_t errlen)
{
    relay_tmap *m = xcalloc(1, sizeof(*m));
    size_t cap = 0, lineno = 0, pos = 0;
    char line[RELAY_TMAP_LINE_MAX + 1];

    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - (text + pos)) : len - pos;
        lineno++;
        if (ll > RELAY_TMAP_LINE_MAX) {
            tmap_err(err, errlen, "line %zu: longer than %d bytes", lineno,
                     RELAY_TMAP_LINE_MAX);
            goto bad;
        }
        if (memchr(text + pos, '\0', ll) != NULL) {
            tmap_err(err, errlen, "line %zu: NUL byte", lineno);
            goto bad;
        }
        memcpy(line, text + pos, ll);
        line[ll] = '\0';
        pos += ll + (nl ? 1 : 0);
        char *hash = strchr(line, '#');
        if (hash != NULL)
            *hash = '\0';
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            continue;
        if (m->n == RELAY_TMAP_MAX_ENTRIES) {
            tmap_err(err, errlen, "more than %d entries", RELAY_TMAP_MAX_ENTRIES);
            goto bad;
        }
        if (m->n == cap) {
            cap = cap ? cap * 2 : 16;
            m->e = xrealloc(m->e, cap * sizeof(*m->e));
        }
        relay_tmap_entry *e = &m->e[m->n];
        memset(e, 0, sizeof(*e));
        char why[200];
        if (tmap_line(e, p, why, sizeof(why)) != 0) {
            free(e->route.auth_file);
            tmap_err(err, errlen, "line %zu: %s", lineno, why);
            goto bad;
        }
        m->n++;
    }
    return m;
bad:
    relay_tmap_free(m);
    return NULL;
}

relay_tmap *relay_tmap_load(const char *path, char *err, size_t errlen)
{
    char *data = NULL;
    size_t len = 0;
    char why[300];

    if (tmap_read(path, TMAP_FILE_MAX, &data, &len, why, sizeof(why)) != 0) {
        tmap_err(err, errlen, "%s: %s", path, why);
        return NULL;
    }
    relay_tmap *m = relay_tmap_parse(data, len, why, sizeof(why));
    free(data);
    if (m == NULL) {
        tmap_err(err, errlen, "%s: %s", path, why);
        return NULL;
    }
    for (size_t i = 0; i < m->n; i++) {
        if (m->e[i].route.auth_file != NULL &&
            tmap_credentials(&m->e[i].route, why, sizeof(why)) != 0) {
            tmap_err(err, errlen, "%s: %s", path, why);
            relay_tmap_free(m);
            return NULL;
        }
    }
    return m;
}

void relay_tmap_free(relay_tmap *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n; i++) {
        relay_route *r = &m->e[i].route;
        free(r->auth_file);
        free(r->auth_user);
        if (r->auth_pass != NULL) {
            OPENSSL_cleanse(r->auth_pass, strlen(r->auth_pass));
            free(r->auth_pass);
        }
    }
    free(m->e);
    free(m);
}

const relay_route *relay_tmap_find(const relay_tmap *m, const char *sender,
                                   const char *domain)
{
    const relay_route *best = NULL, *def = NULL;
    size_t best_len = 0;

    if (m == NULL)
        return NULL;
    for (size_t i = 0; i < m->n; i++)
        if (m->e[i].is_sender && sender != NULL && strcasecmp(m->e[i].key, sender) == 0)
            return &m->e[i].route;
    size_t dl = strlen(domain);
    for (size_t i = 0; i < m->n; i++) {
        const relay_tmap_entry *e = &m->e[i];
        if (e->is_sender)
            continue;
        if (e->is_default) {
            if (def == NULL)
                def = &e->route;
            continue;
        }
        if (!e->is_wildcard) {
            if (strcasecmp(e->key, domain) == 0)
                return &e->route;
            continue;
        }
        size_t kl = strlen(e->key);
        if (dl > kl + 1 && domain[dl - kl - 1] == '.' &&
            strcasecmp(domain + dl - kl, e->key) == 0 && kl > best_len) {
            best = &e->route;
            best_len = kl;
        }
    }
    return best != NULL ? best : def;
}

int relay_tmap_hostport(const char *v, char *host, size_t hostlen, int *port, int def_port)
{
    const char *h = v, *ps = NULL;
    size_t hl;

    if (v[0] == '[') {
        const char *end = strchr(v, ']');
        if (end == NULL)
            return -1;
        h = v + 1;
        hl = (size_t)(end - h);
        if (end[1] == ':')
            ps = end + 2;
        else if (end[1] != '\0')
            return -1;
    } else {
        const char *colon = strchr(v, ':');
        if (colon != NULL && strchr(colon + 1, ':') != NULL)
            return -1;   /* bare IPv6 needs brackets */
        hl = colon ? (size_t)(colon - v) : strlen(v);
        ps = colon ? colon + 1 : NULL;
    }
    if (hl == 0 || hl >= hostlen)
        return -1;
    for (size_t i = 0; i < hl; i++)
        if (isspace((unsigned char)h[i]) || h[i] == '/' || h[i] == '[' || h[i] == ']')
            return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = def_port;
    if (ps != NULL) {
        char *e = NULL;
        errno = 0;
        long p = strtol(ps, &e, 10);
        if (e == ps || *e != '\0' || errno != 0 || p < 1 || p > 65535)
            return -1;
        *port = (int)p;
    }
    return 0;
}

/* "<key> <transport> [options]" (comment and leading space removed). */
static int tmap_line(relay_tmap_entry *e, char *line, char *err, size_t errlen)
{
    char *save = NULL;
    char *key = strtok_r(line, " \t\r", &save);
    char *tr = strtok_r(NULL, " \t\r", &save);

    if (key == NULL || tr == NULL) {
        tmap_err(err, errlen, "expected \"<key> <transport>\"");
        return -1;
    }
    if (strncasecmp(key, "sender:", 7) == 0) {
        e->is_sender = 1;
        key += 7;
        if (strchr(key, '@') == NULL) {
            tmap_err(err, errlen, "sender: needs an address");
            return -1;
        }
    } else if (strcmp(key, "*") == 0) {
        e->is_default = 1;
    } else if (strncmp(key, "*.", 2) == 0) {
        e->is_wildcard = 1;
        key += 2;
    }
    if (!e->is_default && (key[0] == '\0' || strchr(key, '*') != NULL ||
                           (!e->is_sender && strchr(key, '@') != NULL))) {
        tmap_err(err, errlen, "bad key \"%.100s\"", key);
        return -1;
    }
    if (str_copy(e->key, sizeof(e->key), e->is_default ? "*" : key) != 0) {
        tmap_err(err, errlen, "key too long");
        return -1;
    }
    tmap_lower(e->key);
    if (tmap_transport(&e->route, tr, err, errlen) != 0)
        return -1;
    for (char *o = strtok_r(NULL, " \t\r", &save); o != NULL; o = strtok_r(NULL, " \t\r", &save))
        if (tmap_option(&e->route, o, err, errlen) != 0)
            return -1;
    if (e->route.auth_file != NULL && e->route.kind == RELAY_ROUTE_MX) {
        tmap_err(err, errlen, "auth= needs a smarthost or lmtp transport");
        return -1;
    }
    return 0;
}

static int tmap_transport(relay_route *r, const char *v, char *err, size_t errlen)
{
    const char *hp = NULL;
    int def_port = 25;

    if (strcasecmp(v, "mx") == 0) {
        r->kind = RELAY_ROUTE_MX;
        return 0;
    }
    if (strncasecmp(v, "smarthost:", 10) == 0) {
        r->kind = RELAY_ROUTE_SMARTHOST;
        hp = v + 10;
    } else if (strncasecmp(v, "smtp:", 5) == 0) {
        r->kind = RELAY_ROUTE_SMARTHOST;
        hp = v + 5;
    } else if (strncasecmp(v, "lmtp:", 5) == 0) {
        r->kind = RELAY_ROUTE_LMTP;
        hp = v + 5;
        def_port = 24;
    } else {
        tmap_err(err, errlen, "unknown transport \"%.100s\" (mx, smarthost:, smtp:, lmtp:)", v);
        return -1;
    }
    if (relay_tmap_hostport(hp, r->host, sizeof(r->host), &r->port, def_port) != 0) {
        tmap_err(err, errlen, "bad host:port \"%.100s\"", hp);
        return -1;
    }
    return 0;
}

static int tmap_option(relay_route *r, const char *v, char *err, size_t errlen)
{
    if (strncmp(v, "tls=", 4) == 0) {
        r->tls_set = 1;
        if (strcmp(v + 4, "may") == 0)
            r->tls = RELAY_TLS_MAY;
        else if (strcmp(v + 4, "encrypt") == 0)
            r->tls = RELAY_TLS_ENCRYPT;
        else if (strcmp(v + 4, "verify") == 0)
            r->tls = RELAY_TLS_VERIFY;
        else {
            tmap_err(err, errlen, "tls= must be may, encrypt or verify");
            return -1;
        }
        return 0;
    }
    if (strncmp(v, "auth=", 5) == 0 && v[5] != '\0') {
        free(r->auth_file);
        r->auth_file = xstrdup(v + 5);
        return 0;
    }
    tmap_err(err, errlen, "unknown option \"%.100s\" (auth=, tls=)", v);
    return -1;
}

/* First line of the file: "username:password" (password may contain ':'). */
static int tmap_credentials(relay_route *r, char *err, size_t errlen)
{
    char *data = NULL;
    size_t len = 0;
    char why[200];

    if (tmap_read(r->auth_file, TMAP_CRED_MAX, &data, &len, why, sizeof(why)) != 0) {
        tmap_err(err, errlen, "credentials %s: %s", r->auth_file, why);
        return -1;
    }
    size_t ll = strcspn(data, "\r\n");
    data[ll] = '\0';
    char *colon = strchr(data, ':');
    int ok = colon != NULL && colon != data && colon[1] != '\0' && strlen(data) == ll;
    if (ok) {
        r->auth_user = xstrndup(data, (size_t)(colon - data));
        r->auth_pass = xstrdup(colon + 1);
    }
    OPENSSL_cleanse(data, len);
    free(data);
    if (!ok) {
        tmap_err(err, errlen, "credentials %s: the first line must be username:password",
                 r->auth_file);
        return -1;
    }
    return 0;
}

static int tmap_read(const char *path, size_t max, char **data, size_t *len, char *err,
                     size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        tmap_err(err, errlen, "%s", strerror(errno));
        return -1;
    }
    char *buf = xmalloc(max + 1);
    size_t got = fread(buf, 1, max + 1, f);
    int rerr = ferror(f);
    fclose(f);
    if (rerr || got > max) {
        free(buf);
        tmap_err(err, errlen, rerr ? "read error" : "file too large");
        return -1;
    }
    buf[got] = '\0';
    *data = buf;
    *len = got;
    return 0;
}

static void tmap_lower(char *s)
{
    for (; *s != '\0'; s++)
        *s = (char)tolower((unsigned char)*s);
}

static void tmap_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    (void)vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}
