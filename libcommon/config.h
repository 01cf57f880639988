/*
 * config.h - service configuration from MAILYARD_* environment variables,
 * with an optional KEY=VALUE file named by MAILYARD_CONFIG_FILE.
 *
 * Precedence: environment, then file, then the default given at the call.
 * Keys are the full variable names ("MAILYARD_PG_DSN"). The file format is one
 * KEY=VALUE per line; blank lines and lines starting with '#' are ignored;
 * values are taken verbatim to the end of line (no quoting).
 *
 * Secrets: config_secret() reads the file named by KEY_FILE (e.g.
 * MAILYARD_ADMIN_TOKEN_FILE) and strips one trailing newline; secrets are
 * never taken from the environment directly and never logged.
 *
 * Ownership: a config is created by config_load() and owned by the caller
 * (service main); strings returned by config_get() belong to the config and
 * live as long as it does. config_secret() returns a malloc'd string the
 * caller frees (after wiping it with config_secret_free()).
 */
#ifndef MAILYARD_CONFIG_H
#define MAILYARD_CONFIG_H

#include <stddef.h>

/* Defaults shared by the services and mailyardctl: the private instances
 * that `make run` starts on loopback. */
#define CONFIG_DEFAULT_PG_DSN    "host=127.0.0.1 port=55432 dbname=mailyard user=mailyard"
#define CONFIG_DEFAULT_REDIS_URL "redis://127.0.0.1:56379/0"

typedef struct config config;

/* Loads MAILYARD_CONFIG_FILE if set. Returns NULL and fills err on a
 * missing or unreadable file or a malformed line. */
config     *config_load(char *err, size_t errlen);
void        config_free(config *c);
const char *config_get(const config *c, const char *key, const char *def);
/* Integer value; on a malformed value logs and returns def. */
long        config_get_long(const config *c, const char *key, long def);
int         config_get_bool(const config *c, const char *key, int def);
/* Reads the secret named by key (path in key, e.g. "MAILYARD_ADMIN_TOKEN_FILE").
 * Returns NULL (err filled) if the key is unset or the file unreadable. */
char       *config_secret(const config *c, const char *key, char *err, size_t errlen);
void        config_secret_free(char *secret);

#endif
