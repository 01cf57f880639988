/*
 * rewrite_store.h - the rewrite schema in PostgreSQL: domains and aliases
 * (services/rewrite/sql/001_rewrite.sql). Only rewrite reads or writes
 * these tables; other services ask the API.
 *
 * Every function runs on a connection the caller holds (an API handler's
 * pooled connection, or the worker's transaction). Addresses and domain
 * names must already be normalised (lower case, rewrite_addr.h). Return
 * values: 1 found/created/changed, 0 missing/already there, -1 database
 * error (db_conn_error() tells why; inside a transaction the caller must
 * roll back).
 *
 * Ownership: json_t results are new references for the caller; strlist
 * results are appended to the caller's list.
 */
#ifndef MAILYARD_REWRITE_STORE_H
#define MAILYARD_REWRITE_STORE_H

#include <stdint.h>
#include <jansson.h>

#include "db.h"
#include "strlist.h"

int rewrite_store_domain_exists(db_conn *c, const char *name);
/* {"domains":[{"name","created_at"}...]} ordered by name, names > after
 * (NULL for the start), at most limit; "next" set when there are more. */
int rewrite_store_domain_list(db_conn *c, const char *after, long limit, json_t **out);
/* 1 created (*out = the new object), 0 exists. */
int rewrite_store_domain_create(db_conn *c, const char *name, json_t **out);
int rewrite_store_domain_delete(db_conn *c, const char *name);

int rewrite_store_alias_targets(db_conn *c, const char *addr, strlist *out);
/* *out = {"address","targets","created_at","updated_at"}. */
int rewrite_store_alias_get(db_conn *c, const char *addr, json_t **out);
/* {"aliases":[...]} as for domains. */
int rewrite_store_alias_list(db_conn *c, const char *after, long limit, json_t **out);
/* targets: a JSON array of checked addresses (not stolen). */
int rewrite_store_alias_create(db_conn *c, const char *addr, const json_t *targets,
                               json_t **out);
int rewrite_store_alias_update(db_conn *c, const char *addr, const json_t *targets,
                               json_t **out);
int rewrite_store_alias_delete(db_conn *c, const char *addr);
/* Import upsert: 1 created, 2 updated, 0 unchanged (same targets), -1. */
int rewrite_store_alias_upsert(db_conn *c, const char *addr, const json_t *targets);


#endif
