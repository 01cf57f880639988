/*
 * migrate.c - the migration runner (see migrate.h).
 *
 * Owns: one dedicated PostgreSQL connection for the duration of a run, the
 * session advisory lock MIGRATE_LOCK_KEY on it, and the bookkeeping table
 * public.mailyard_migrations.
 *
 * Components, in order: "spool" (<root>/libcommon/sql), then every
 * <root>/services/<name>/sql in alphabetical order of <name>. In each, files
 * named NNN_name.sql are applied in order of NNN, each in its own
 * transaction (the file is sent with PQexec, so it may hold several
 * statements; it must not COMMIT itself). A file already recorded with the
 * same SHA-256 is skipped; a recorded file whose checksum changed, two
 * files with the same number, or a failing file stop the run with an error.
 *
 * Trusts: the SQL files (they are part of the release) and the DSN.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libpq-fe.h>
#include <openssl/evp.h>

#include "log.h"
#include "migrate.h"
#include "xalloc.h"

/* "Mailyard" in ASCII: the advisory lock every runner takes. */
#define MIGRATE_LOCK_KEY   "5575161627488760420"
#define MIGRATE_FILE_MAX   (16u * 1024u * 1024u)
#define MIGRATE_FILES_MAX  10000

typedef struct migrate_file {
    int   version;
    char *name;          /* owned: file name, e.g. "001_spool.sql" */
    char *path;          /* owned: full path */
} migrate_file;

typedef struct migrate_list {
    migrate_file *items; /* owned array */
    size_t n, cap;
} migrate_list;

static void migrate_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int  migrate_exec(PGconn *pg, const char *sql, char *err, size_t errlen);
static int  migrate_scan(const char *dir, migrate_list *l, char *err, size_t errlen);
static void migrate_list_release(migrate_list *l);
static int  migrate_component(PGconn *pg, const char *component, const char *dir,
                              char *err, size_t errlen);
static char *migrate_read(const char *path, size_t *len, char *err, size_t errlen);
static void migrate_sha256(const char *data, size_t len, char hex[65]);
static int  migrate_services(const char *root, char ***names, size_t *n);

int migrate_run(const char *dsn, const char *sql_root, char *err, size_t errlen)
{
    if (errlen > 0)
        err[0] = '\0';
    PGconn *pg = PQconnectdb(dsn);
    if (pg == NULL || PQstatus(pg) != CONNECTION_OK) {
        migrate_err(err, errlen, "connect: %s", pg ? PQerrorMessage(pg) : "out of memory");
        PQfinish(pg);
        return -1;
    }
    int total = -1;
    if (migrate_exec(pg, "SET client_min_messages = warning", err, errlen) != 0 ||
        migrate_exec(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", err, errlen) != 0)
        goto out;
    if (migrate_exec(pg,
            "CREATE TABLE IF NOT EXISTS public.mailyard_migrations ("
            " component text NOT NULL,"
            " version int NOT NULL,"
            " name text NOT NULL,"
            " sha256 text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now(),"
            " PRIMARY KEY (component, version))", err, errlen) != 0)
        goto unlock;

    char path[4096];
    if (snprintf(path, sizeof(path), "%s/libcommon/sql", sql_root) >= (int)sizeof(path)) {
        migrate_err(err, errlen, "sql root too long");
        goto unlock;
    }
    int n = migrate_component(pg, "spool", path, err, errlen);
    if (n < 0)
        goto unlock;
    int sum = n;

    char **names = NULL;
    size_t nnames = 0;
    if (migrate_services(sql_root, &names, &nnames) != 0) {
        migrate_err(err, errlen, "cannot list %s/services: %s", sql_root, strerror(errno));
        goto unlock;
    }
    int failed = 0;
    for (size_t i = 0; i < nnames && !failed; i++) {
        if (snprintf(path, sizeof(path), "%s/services/%s/sql", sql_root, names[i]) >=
            (int)sizeof(path)) {
            migrate_err(err, errlen, "path too long for %s", names[i]);
            failed = 1;
            break;
        }
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        n = migrate_component(pg, names[i], path, err, errlen);
        if (n < 0)
            failed = 1;
        else
            sum += n;
    }
    for (size_t i = 0; i < nnames; i++)
        free(names[i]);
    free(names);
    if (!failed)
        total = sum;
unlock:
    {
        char uerr[256];
        (void)migrate_exec(pg, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", uerr, sizeof(uerr));
    }
out:
    PQfinish(pg);
    return total;
}

/* Applies the files of one component; returns how many, or -1. */
static int migrate_component(PGconn *pg, const char *component, const char *dir,
                             char *err, size_t errlen)
{
    migrate_list l = {0};
    if (migrate_scan(dir, &l, err, errlen) != 0)
        return -1;
    int applied = 0;
    for (size_t i = 0; i < l.n; i++) {
        migrate_file *f = &l.items[i];
        size_t len = 0;
        char *sql = migrate_read(f->path, &len, err, errlen);
        if (sql == NULL) {
            applied = -1;
            break;
        }
        char sha[65], ver[16];
        migrate_sha256(sql, len, sha);
        (void)snprintf(ver, sizeof(ver), "%d", f->version);
        const char *v[] = { component, ver, f->name, sha };
        PGresult *r = PQexecParams(pg,
            "SELECT sha256, name FROM public.mailyard_migrations"
            " WHERE component = $1 AND version = $2::int", 2, NULL, v, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            migrate_err(err, errlen, "%s: %s", f->path, PQresultErrorMessage(r));
            PQclear(r);
            free(sql);
            applied = -1;
            break;
        }
        if (PQntuples(r) == 1) {
            int same = strcmp(PQgetvalue(r, 0, 0), sha) == 0;
            if (!same)
                migrate_err(err, errlen,
                            "%s: already applied as %s %d (%s) with another checksum;"
                            " never edit an applied migration, add a new one",
                            f->path, component, f->version, PQgetvalue(r, 0, 1));
            PQclear(r);
            free(sql);
            if (!same) {
                applied = -1;
                break;
            }
            continue;
        }
        PQclear(r);

        int ok = migrate_exec(pg, "BEGIN", err, errlen) == 0;
        if (ok) {
            r = PQexec(pg, sql);
            ExecStatusType st = PQresultStatus(r);
            if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK &&
                st != PGRES_EMPTY_QUERY) {
                migrate_err(err, errlen, "%s: %s", f->path, PQresultErrorMessage(r));
                ok = 0;
            } else if (PQtransactionStatus(pg) != PQTRANS_INTRANS) {
                migrate_err(err, errlen, "%s: must not end its transaction", f->path);
                ok = 0;
            }
            PQclear(r);
        }
        if (ok) {
            r = PQexecParams(pg,
                "INSERT INTO public.mailyard_migrations (component, version, name, sha256)"
                " VALUES ($1, $2::int, $3, $4)", 4, NULL, v, NULL, NULL, 0);
            if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                migrate_err(err, errlen, "%s: record: %s", f->path, PQresultErrorMessage(r));
                ok = 0;
            }
            PQclear(r);
        }
        if (ok) {
            r = PQexec(pg, "COMMIT");
            ok = PQresultStatus(r) == PGRES_COMMAND_OK && strcmp(PQcmdStatus(r), "COMMIT") == 0;
            if (!ok)
                migrate_err(err, errlen, "%s: commit: %s", f->path, PQresultErrorMessage(r));
            PQclear(r);
        }
        free(sql);
        if (!ok) {
            PQclear(PQexec(pg, "ROLLBACK"));
            applied = -1;
            break;
        }
        log_info("migration applied", "component", component, "file", f->name);
        applied++;
    }
    migrate_list_release(&l);
    return applied;
}

static void migrate_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    size_t n = strlen(err);
    while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
        err[--n] = '\0';
}

static int migrate_exec(PGconn *pg, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(r);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        migrate_err(err, errlen, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

static int migrate_file_cmp(const void *a, const void *b)
{
    const migrate_file *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

/* Lists NNN_*.sql in dir, sorted by NNN. A missing dir is an empty list. */
static int migrate_scan(const char *dir, migrate_list *l, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        if (errno == ENOENT)
            return 0;
        migrate_err(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        size_t len = strlen(nm), digits = strspn(nm, "0123456789");
        if (digits == 0 || digits > 6 || nm[digits] != '_' || len < 5 ||
            strcmp(nm + len - 4, ".sql") != 0)
            continue;
        if (l->n >= MIGRATE_FILES_MAX) {
            migrate_err(err, errlen, "%s: too many files", dir);
            closedir(d);
            return -1;
        }
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 16;
            l->items = xrealloc(l->items, l->cap * sizeof(*l->items));
        }
        migrate_file *f = &l->items[l->n++];
        f->version = atoi(nm);
        f->name = xstrdup(nm);
        size_t plen = strlen(dir) + len + 2;
        f->path = xmalloc(plen);
        (void)snprintf(f->path, plen, "%s/%s", dir, nm);
    }
    closedir(d);
    if (l->n > 1)
        qsort(l->items, l->n, sizeof(*l->items), migrate_file_cmp);
    for (size_t i = 1; i < l->n; i++)
        if (l->items[i].version == l->items[i - 1].version) {
            migrate_err(err, errlen, "%s: %s and %s have the same number", dir,
                        l->items[i - 1].name, l->items[i].name);
            migrate_list_release(l);
            return -1;
        }
    return 0;
}

static void migrate_list_release(migrate_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].name);
        free(l->items[i].path);
    }
    free(l->items);
    l->items = NULL;
    l->n = l->cap = 0;
}

/* Reads a whole file (NUL-terminated, caller frees). */
static char *migrate_read(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        migrate_err(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *data = xmalloc(cap + 1);
    for (;;) {
        size_t got = fread(data + n, 1, cap - n, fp);
        n += got;
        if (n < cap) {
            if (ferror(fp)) {
                migrate_err(err, errlen, "%s: read error", path);
                free(data);
                fclose(fp);
                return NULL;
            }
            break;
        }
        if (cap >= MIGRATE_FILE_MAX) {
            migrate_err(err, errlen, "%s: larger than %u bytes", path, MIGRATE_FILE_MAX);
            free(data);
            fclose(fp);
            return NULL;
        }
        cap *= 2;
        data = xrealloc(data, cap + 1);
    }
    fclose(fp);
    if (memchr(data, '\0', n) != NULL) {
        migrate_err(err, errlen, "%s: contains a NUL byte", path);
        free(data);
        return NULL;
    }
    data[n] = '\0';
    *len = n;
    return data;
}

static void migrate_sha256(const char *data, size_t len, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        panic("SHA-256 failed");
    for (unsigned i = 0; i < 32; i++)
        (void)snprintf(hex + 2 * i, 3, "%02x", md[i]);
    hex[64] = '\0';
}

static int migrate_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of the directories under <root>/services, sorted. A missing
 * services directory is an empty list. */
static int migrate_services(const char *root, char ***names, size_t *n)
{
    char path[4096];
    *names = NULL;
    *n = 0;
    if (snprintf(path, sizeof(path), "%s/services", root) >= (int)sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    DIR *d = opendir(path);
    if (d == NULL)
        return errno == ENOENT ? 0 : -1;
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        int ok = 1;
        for (const char *s = de->d_name; *s; s++)
            if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
                ok = 0;
        if (!ok)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *names = xrealloc(*names, cap * sizeof(**names));
        }
        (*names)[(*n)++] = xstrdup(de->d_name);
    }
    closedir(d);
    if (*n > 0)
        qsort(*names, *n, sizeof(**names), migrate_name_cmp);
    return 0;
}
