-- 004_dmarc_encoded.sql - authors whose address we sent out encoded into
-- our domain (DMARC mitigation "encode-address", libcommon/dmarc_mitigate.h).
-- Written by lists and rewrite when they encode a From, read by rewrite when
-- a reply to an encoded address arrives (accepted only while the author was
-- seen within MAILYARD_DMARC_REPLY_WINDOW_DAYS). Owned by libcommon
-- (spool_dmarc.c); services touch it only through spool_dmarc.h.

CREATE TABLE IF NOT EXISTS spool.dmarc_encoded (
    author      text        PRIMARY KEY CHECK (author = lower(author)),
    encoded     text        NOT NULL,          -- the address we wrote in From
    first_seen  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS dmarc_encoded_last_seen ON spool.dmarc_encoded (last_seen);
