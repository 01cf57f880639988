/*
 * relay_dkim_files.c - DKIM private keys from files
 * (MAILYARD_RELAY_DKIM_KEY_DIR), next to the keys in PostgreSQL
 * (relay_dkim_store.c).
 *
 * At start-up every regular file of the directory named
 * <domain>.<selector>.key (the selector is the last label before ".key",
 * the domain everything before it) is read as a PEM private key (RSA or
 * Ed25519: the algorithm comes from the key); other names are skipped with
 * a log line, an unreadable or unparsable key stops the service (a key the
 * operator put there and that does not work is a configuration error). At
 * most RELAY_DKIM_FILES_MAX keys. The set is immutable afterwards (a
 * restart reloads it), so worker threads read it without a lock.
 *
 * Precedence: for a domain and algorithm, an active key in PostgreSQL wins
 * over a file key (relay_dkim_snapshot_find asks the table's keys first);
 * the file key signs only where the table has none.
 *
 * SECURITY: the PEM bytes are read by libcommon (dkim_key_load_file) and
 * never logged; errors name the file, not its content. Key files should be
 * readable by the relay's user only (a mounted Secret).
 * Ownership: the relay state owns the set (relay_dkim_files_free).
 */
#include "relay_dkim.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "log.h"
#include "xalloc.h"

struct relay_dkim_files {
    relay_dkim_entry *keys;     /* owned, sorted by file name */
    char            **txt;      /* owned public records, parallel to keys */
    size_t            n;
};

static int files_name_split(const char *name, char *domain, char *selector);
static int files_name_cmp(const void *a, const void *b);

relay_dkim_files *relay_dkim_files_load(const char *dir, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        snprintf(err, errlen, "cannot open %s", dir);
        return NULL;
    }
    char **names = NULL;
    size_t nn = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char dom[RELAY_DKIM_DOMAIN_MAX + 1], sel[RELAY_DKIM_SELECTOR_MAX + 1];
        if (files_name_split(de->d_name, dom, sel) != 0) {
            log_warn("file in MAILYARD_RELAY_DKIM_KEY_DIR skipped: not <domain>.<selector>.key",
                     "file", de->d_name);
            continue;
        }
        if (nn >= RELAY_DKIM_FILES_MAX) {
            snprintf(err, errlen, "more than %d key files in %s", RELAY_DKIM_FILES_MAX, dir);
            goto fail;
        }
        names = xrealloc(names, (nn + 1) * sizeof(*names));
        names[nn++] = xstrdup(de->d_name);
    }
    closedir(d);
    d = NULL;
    qsort(names, nn, sizeof(*names), files_name_cmp);

    relay_dkim_files *f = xcalloc(1, sizeof(*f));
    f->keys = xcalloc(nn + 1, sizeof(*f->keys));
    f->txt = xcalloc(nn + 1, sizeof(*f->txt));
    for (size_t i = 0; i < nn; i++) {
        char path[4096], kerr[160];
        struct stat sb;
        relay_dkim_entry *e = &f->keys[f->n];
        if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= (int)sizeof(path) ||
            stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
            log_warn("key file skipped: not a regular file", "file", names[i]);
            continue;
        }
        (void)files_name_split(names[i], e->domain, e->selector);
        e->key = dkim_key_load_file(path, kerr, sizeof(kerr));
        if (e->key == NULL) {
            snprintf(err, errlen, "key file %s: %s", names[i], kerr);
            relay_dkim_files_free(f);
            goto fail;
        }
        e->id = 0;                      /* not a row of relay.dkim_keys */
        e->algo = dkim_key_algo(e->key);
        f->txt[f->n] = dkim_key_dns_record(e->key);
        if (f->txt[f->n] == NULL)
            panic("dkim_key_dns_record failed");
        f->n++;
    }
    for (size_t k = 0; k < nn; k++)
        free(names[k]);
    free(names);
    char cnt[24];
    snprintf(cnt, sizeof(cnt), "%zu", f->n);
    log_info("dkim key files loaded", "dir", dir, "keys", cnt);
    return f;
fail:
    if (d != NULL)
        closedir(d);
    for (size_t k = 0; k < nn; k++)
        free(names[k]);
    free(names);
    return NULL;
}

void relay_dkim_files_free(relay_dkim_files *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->n; i++) {
        dkim_key_free(f->keys[i].key);
        free(f->txt[i]);
    }
    free(f->keys);
    free(f->txt);
    free(f);
}

const relay_dkim_entry *relay_dkim_files_find(const relay_dkim_files *f, const char *domain,
                                              enum dkim_algo algo)
{
    for (size_t i = 0; f != NULL && i < f->n; i++)
        if (f->keys[i].algo == algo && strcasecmp(f->keys[i].domain, domain) == 0)
            return &f->keys[i];
    return NULL;
}

json_t *relay_dkim_files_json(const relay_dkim_files *f, const char *domain)
{
    json_t *arr = json_array();
    for (size_t i = 0; f != NULL && i < f->n; i++) {
        const relay_dkim_entry *e = &f->keys[i];
        if (domain != NULL && strcasecmp(domain, e->domain) != 0)
            continue;
        size_t rl = strlen(e->selector) + strlen(e->domain) + strlen(f->txt[i]) + 40;
        char *rec = xmalloc(rl);
        snprintf(rec, rl, "%s._domainkey.%s IN TXT \"%s\"", e->selector, e->domain, f->txt[i]);
        json_t *o = json_pack("{s:n, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", "source",
                              "file", "domain", e->domain, "selector", e->selector,
                              "algorithm", dkim_algo_name(e->algo), "state", "active",
                              "public_txt", f->txt[i], "dns_record", rec);
        free(rec);
        if (o == NULL)
            panic("json_pack failed");
        json_array_append_new(arr, o);
    }
    return arr;
}

/* "<domain>.<selector>.key" -> domain (lower case), selector. 0 or -1. */
static int files_name_split(const char *name, char *domain, char *selector)
{
    size_t len = strlen(name);
    if (len < 7 || strcmp(name + len - 4, ".key") != 0)
        return -1;
    size_t stem = len - 4;
    const char *dot = NULL;
    for (size_t i = stem; i > 0; i--)
        if (name[i - 1] == '.') {
            dot = name + i - 1;
            break;
        }
    if (dot == NULL || dot == name)
        return -1;
    size_t dl = (size_t)(dot - name), sl = stem - dl - 1;
    if (dl > RELAY_DKIM_DOMAIN_MAX || sl == 0 || sl > RELAY_DKIM_SELECTOR_MAX)
        return -1;
    for (size_t i = 0; i < stem; i++) {
        unsigned char c = (unsigned char)name[i];
        if (i == dl)
            continue;
        if (!(isalnum(c) || c == '-' || c == '_' || (c == '.' && i < dl)))
            return -1;
        if (i < dl)
            domain[i] = (char)tolower(c);
        else if (i > dl)
            selector[i - dl - 1] = (char)c;
    }
    domain[dl] = '\0';
    selector[sl] = '\0';
    return 0;
}

static int files_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}
