-- 001_archive.sql - the archive service's schema: every list copy it was
-- asked to keep, with the raw bytes and the header fields it indexes.
-- Owned by services/archive (archive_store.c). One row per spool message
-- (spool_message_id is unique, which makes the stage idempotent).

CREATE SCHEMA IF NOT EXISTS archive;

CREATE TABLE archive.messages (
    id               bigserial   PRIMARY KEY,
    list             text        NOT NULL,     -- list post address, lower-case
    spool_message_id bigint      NOT NULL UNIQUE,
    message_id       text,                     -- Message-ID header value
    subject          text,
    from_header      text,
    date_header      text,
    in_reply_to      text,
    raw              bytea       NOT NULL,
    archived_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_list_archived ON archive.messages (list, archived_at DESC, id DESC);
