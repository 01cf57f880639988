-- 002_dsn.sql - what mx learns from the envelope for the relay to honour
-- later: SMTPUTF8 (RFC 6531), and the DSN parameters of RFC 3461 (RET and
-- ENVID from MAIL; NOTIFY and ORCPT per recipient). Owned by libcommon
-- (spool.c); written by mx at the commit, read with the message.

ALTER TABLE spool.messages
    ADD COLUMN smtputf8  boolean NOT NULL DEFAULT false,     -- MAIL ... SMTPUTF8
    ADD COLUMN dsn_ret   text CHECK (dsn_ret IN ('FULL', 'HDRS')),  -- RET=, NULL if absent
    ADD COLUMN dsn_envid text,                               -- ENVID= decoded, NULL if absent
    -- one entry per element of rcpts, in the same order: null, or
    -- {"notify": "SUCCESS,DELAY" | "NEVER", "orcpt": "rfc822;a@b"} (keys optional)
    ADD COLUMN rcpt_dsn  jsonb CHECK (rcpt_dsn IS NULL OR jsonb_typeof(rcpt_dsn) = 'array');
