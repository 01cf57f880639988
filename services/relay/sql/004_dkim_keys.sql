-- 004_dkim_keys.sql - the relay's DKIM signing keys, per domain and
-- selector, rsa-sha256 (2048 bits) or ed25519-sha256 (RFC 8463). Owned by
-- services/relay (relay_dkim_store.c, relay_api_dkim.c). private_pem is a
-- secret: never logged, never returned by the API. A retired key stays in
-- the table (its TXT record may still be published for a while) but is no
-- longer used to sign.

CREATE TABLE IF NOT EXISTS relay.dkim_keys (
    id          bigserial   PRIMARY KEY,
    domain      text        NOT NULL,      -- lower case
    selector    text        NOT NULL,
    algorithm   text        NOT NULL CHECK (algorithm IN ('rsa-sha256', 'ed25519-sha256')),
    private_pem text        NOT NULL,
    public_txt  text        NOT NULL,      -- "v=DKIM1; k=rsa; p=..."
    state       text        NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'retired')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    retired_at  timestamptz,
    UNIQUE (domain, selector)      -- one key record per DNS name
);

CREATE INDEX IF NOT EXISTS dkim_keys_domain_idx ON relay.dkim_keys (domain, state);
