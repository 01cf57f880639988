-- 001_submission.sql - the submission service of mx (ports 587 and 465):
-- the users that may authenticate (AUTH PLAIN/LOGIN, RFC 4954), the
-- addresses each may use as envelope sender and in From:, and the client
-- certificates (mutual TLS, pinned by SHA-256 fingerprint) that
-- authenticate internal hosts as a user. Owned by services/mx
-- (submit_store.c reads, mx_api_submission.c writes); other services and
-- mailyardctl go through mx's API.
--
-- Passwords are stored only as crypt(3) yescrypt hashes ("$y$...").

CREATE SCHEMA IF NOT EXISTS mx;

CREATE TABLE mx.submission_users (
    name          text        PRIMARY KEY CHECK (name <> '' AND length(name) <= 128),
    password_hash text        NOT NULL CHECK (password_hash LIKE '$%'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- address: a lower-case mailbox ("a@example.org") or a whole domain
-- ("@example.org"). kind: where the grant applies.
CREATE TABLE mx.submission_grants (
    username    text        NOT NULL REFERENCES mx.submission_users (name)
                                ON DELETE CASCADE ON UPDATE CASCADE,
    address     text        NOT NULL CHECK (address = lower(address)
                                            AND position('@' in address) > 0
                                            AND length(address) <= 256),
    kind        text        NOT NULL DEFAULT 'any'
                                CHECK (kind IN ('any', 'envelope', 'from')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (username, address, kind)
);

CREATE TABLE mx.submission_certs (
    name        text        PRIMARY KEY CHECK (name <> '' AND length(name) <= 128),
    fingerprint text        NOT NULL UNIQUE CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    username    text        NOT NULL REFERENCES mx.submission_users (name)
                                ON DELETE CASCADE ON UPDATE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now()
);
