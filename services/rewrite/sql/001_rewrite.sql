-- 001_rewrite.sql - the rewrite schema: the domains we receive mail for and
-- the forwarding aliases in them. Owned by services/rewrite
-- (rewrite_store.c); other services ask rewrite's API, never these tables.
-- Addresses and names are stored lower-case (lookups are case-insensitive).

CREATE SCHEMA IF NOT EXISTS rewrite;

CREATE TABLE rewrite.domains (
    name        text        PRIMARY KEY CHECK (name = lower(name) AND name <> ''),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE rewrite.aliases (
    address     text        PRIMARY KEY CHECK (address = lower(address)
                                               AND position('@' in address) > 1),
    targets     text[]      NOT NULL CHECK (cardinality(targets) > 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
