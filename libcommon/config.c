/*
 * config.c - MAILYARD_* configuration: environment > file > default.
 *
 * Owns: the parsed KEY=VALUE pairs of the file named by MAILYARD_CONFIG_FILE
 * (copied into the config, freed by config_free) and nothing else. Strings
 * returned by config_get() are either the environment's (which lives for the
 * process; we never setenv) or the config's.
 *
 * SECURITY: the config file and secret files are operator input, but we
 * still bound them (CONFIG_FILE_MAX) and refuse NUL bytes. Secret values
 * are never logged, never put into error messages, and wiped on free.
 * An environment variable that is set but empty counts as set.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "xalloc.h"

#define CONFIG_FILE_MAX (64 * 1024)

struct config {
    char  **keys;    /* owned */
    char  **values;  /* owned */
    size_t  n;
};

static int  config_read_file(const char *path, char **out, size_t *len,
                             char *err, size_t errlen);
static int  config_parse(config *c, const char *text, size_t len,
                         const char *path, char *err, size_t errlen);
static void config_set(config *c, const char *key, size_t klen,
                       const char *val, size_t vlen);

/* Reads a regular file of at most CONFIG_FILE_MAX bytes into a malloc'd,
 * NUL-terminated copy (*out, caller frees). Returns 0 or -1 (err filled;
 * the message names the path, never the content). */
static int config_read_file(const char *path, char **out, size_t *len,
                            char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    if (st.st_size > CONFIG_FILE_MAX) {
        snprintf(err, errlen, "%s: larger than %d bytes", path, CONFIG_FILE_MAX);
        close(fd);
        return -1;
    }
    char *data = xmalloc(CONFIG_FILE_MAX + 2);
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, data + n, CONFIG_FILE_MAX + 1 - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            explicit_bzero(data, n);
            free(data);
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > CONFIG_FILE_MAX)
            break;
    }
    close(fd);
    if (n > CONFIG_FILE_MAX) {      /* grew while we read it */
        snprintf(err, errlen, "%s: larger than %d bytes", path, CONFIG_FILE_MAX);
        explicit_bzero(data, n);
        free(data);
        return -1;
    }
    if (memchr(data, '\0', n) != NULL) {
        snprintf(err, errlen, "%s: contains a NUL byte", path);
        explicit_bzero(data, n);
        free(data);
        return -1;
    }
    data[n] = '\0';
    *out = data;
    *len = n;
    return 0;
}

static void config_set(config *c, const char *key, size_t klen,
                       const char *val, size_t vlen)
{
    for (size_t i = 0; i < c->n; i++) {
        if (strlen(c->keys[i]) == klen && memcmp(c->keys[i], key, klen) == 0) {
            free(c->values[i]);
            c->values[i] = xstrndup(val, vlen);   /* last one wins */
            return;
        }
    }
    c->keys = xrealloc(c->keys, (c->n + 1) * sizeof *c->keys);
    c->values = xrealloc(c->values, (c->n + 1) * sizeof *c->values);
    c->keys[c->n] = xstrndup(key, klen);
    c->values[c->n] = xstrndup(val, vlen);
    c->n++;
}

/* KEY=VALUE lines; '#' comments and blank lines skipped; a trailing \r is
 * dropped (files edited on Windows). Keys are [A-Za-z0-9_]+ starting with
 * a letter or '_'. */
static int config_parse(config *c, const char *text, size_t len,
                        const char *path, char *err, size_t errlen)
{
    size_t pos = 0, lineno = 0;
    while (pos < len) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - line) : len - pos;
        pos += ll + (nl ? 1 : 0);
        lineno++;
        if (ll > 0 && line[ll - 1] == '\r')
            ll--;
        size_t i = 0;
        while (i < ll && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i == ll || line[i] == '#')
            continue;
        const char *key = line + i;
        size_t k = 0;
        while (i + k < ll && (isalnum((unsigned char)key[k]) || key[k] == '_'))
            k++;
        if (k == 0 || isdigit((unsigned char)key[0]) || i + k >= ll || key[k] != '=') {
            snprintf(err, errlen, "%s:%zu: expected KEY=VALUE", path, lineno);
            return -1;
        }
        config_set(c, key, k, key + k + 1, ll - i - k - 1);
    }
    return 0;
}

config *config_load(char *err, size_t errlen)
{
    config *c = xcalloc(1, sizeof *c);
    const char *path = getenv("MAILYARD_CONFIG_FILE");
    if (path == NULL || path[0] == '\0')
        return c;
    char *text;
    size_t len;
    if (config_read_file(path, &text, &len, err, errlen) != 0) {
        config_free(c);
        return NULL;
    }
    int rc = config_parse(c, text, len, path, err, errlen);
    free(text);
    if (rc != 0) {
        config_free(c);
        return NULL;
    }
    return c;
}

void config_free(config *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->keys[i]);
        free(c->values[i]);
    }
    free(c->keys);
    free(c->values);
    free(c);
}

const char *config_get(const config *c, const char *key, const char *def)
{
    const char *env = getenv(key);
    if (env != NULL)
        return env;
    if (c != NULL)
        for (size_t i = 0; i < c->n; i++)
            if (strcmp(c->keys[i], key) == 0)
                return c->values[i];
    return def;
}

long config_get_long(const config *c, const char *key, long def)
{
    const char *v = config_get(c, key, NULL);
    if (v == NULL)
        return def;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0') {
        log_warn("config: not an integer, using the default", "key", key, "value", v);
        return def;
    }
    return n;
}

int config_get_bool(const config *c, const char *key, int def)
{
    static const char *const yes[] = { "1", "true", "yes", "on" };
    static const char *const no[] = { "0", "false", "no", "off" };
    const char *v = config_get(c, key, NULL);
    if (v == NULL)
        return def;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return 1;
        if (strcasecmp(v, no[i]) == 0)
            return 0;
    }
    log_warn("config: not a boolean, using the default", "key", key, "value", v);
    return def;
}

char *config_secret(const config *c, const char *key, char *err, size_t errlen)
{
    const char *path = config_get(c, key, NULL);
    if (path == NULL || path[0] == '\0') {
        snprintf(err, errlen, "%s is not set", key);
        return NULL;
    }
    char *data;
    size_t len;
    if (config_read_file(path, &data, &len, err, errlen) != 0)
        return NULL;
    if (len > 0 && data[len - 1] == '\n') {
        data[--len] = '\0';
        if (len > 0 && data[len - 1] == '\r')
            data[--len] = '\0';
    }
    if (len == 0) {
        snprintf(err, errlen, "%s: secret file %s is empty", key, path);
        free(data);
        return NULL;
    }
    return data;
}

void config_secret_free(char *secret)
{
    if (secret == NULL)
        return;
    explicit_bzero(secret, strlen(secret));
    free(secret);
}
