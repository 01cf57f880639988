-- 002_blocks.sql - mx's block rules: client networks, sender and recipient
-- addresses and sender domains that mx refuses, each with a reason (logged,
-- not shown to the client) and an optional expiry. Owned by services/mx
-- (mx_api_blocks.c writes, smtp_blocks.c caches); other services and
-- mailyardctl go through mx's API (/v1/blocks).
--
-- Values are stored normalised by the API: addresses and domains lower-case,
-- networks in canonical CIDR form ("192.0.2.0/24", "2001:db8::/32").
-- mx.blocks_version.version is bumped by a trigger on every change, so each
-- mx replica notices a change with one cheap query and reloads the rules.

CREATE SCHEMA IF NOT EXISTS mx;

CREATE TABLE mx.blocks (
    id          bigserial   PRIMARY KEY,
    kind        text        NOT NULL CHECK (kind IN ('address', 'domain', 'network')),
    value       text        NOT NULL CHECK (value <> '' AND value = lower(value)),
    reason      text        NOT NULL CHECK (reason <> ''),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    UNIQUE (kind, value)
);

CREATE TABLE mx.blocks_version (
    one         boolean     PRIMARY KEY DEFAULT true CHECK (one),
    version     bigint      NOT NULL
);
INSERT INTO mx.blocks_version (one, version) VALUES (true, 1);

CREATE FUNCTION mx.blocks_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE mx.blocks_version SET version = version + 1;
    RETURN NULL;
END;
$$;

CREATE TRIGGER blocks_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mx.blocks
    FOR EACH STATEMENT EXECUTE FUNCTION mx.blocks_bump();
