/*
 * migrate.h - the migration runner behind `mailyardctl migrate` and
 * `make run`.
 *
 * Applies libcommon/sql/NNN_*.sql (component "spool", first) and then every
 * services/<name>/sql/NNN_*.sql, ordered by component then number, each in
 * its own transaction, under a session advisory lock so that concurrent
 * runners (several Job pods) wait for each other. Applied files are recorded
 * in public.mailyard_migrations (component, version, name, sha256,
 * applied_at); a file already recorded is skipped, a recorded file whose
 * checksum changed is an error. Running twice changes nothing.
 *
 * sql_root is the directory that holds libcommon/ and services/ (the repo,
 * or /usr/share/mailyard in images); from MAILYARD_SQL_ROOT.
 */
#ifndef MAILYARD_MIGRATE_H
#define MAILYARD_MIGRATE_H

#include <stddef.h>

/* Returns the number of files applied (0 if up to date) or -1 (err filled). */
int migrate_run(const char *dsn, const char *sql_root, char *err, size_t errlen);

#endif
