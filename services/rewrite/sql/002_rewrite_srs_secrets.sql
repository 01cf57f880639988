-- 002_rewrite_srs_secrets.sql - SRS secrets shared by every rewrite
-- process (rewrite_secrets.c), and catch-all aliases.
--
-- srs_secrets: the newest non-retired secret signs, every non-retired one
-- verifies. Seeded from MAILYARD_SRS_SECRETS_FILE when empty; rotated and
-- retired through the API. Secrets never leave rewrite (the API lists ids
-- and dates only).
--
-- aliases: an address "@domain" is that domain's catch-all alias, used
-- only when nothing else matches (docs/rewrite.md).

CREATE TABLE rewrite.srs_secrets (
    id          bigserial   PRIMARY KEY,
    secret      text        NOT NULL UNIQUE CHECK (secret <> ''),
    created_at  timestamptz NOT NULL DEFAULT now(),
    retired_at  timestamptz
);

ALTER TABLE rewrite.aliases DROP CONSTRAINT aliases_address_check;
ALTER TABLE rewrite.aliases ADD CONSTRAINT aliases_address_check
    CHECK (address = lower(address) AND position('@' in address) > 0);
