-- 001_spool.sql - the shared spool: the record of every message, the jobs
-- that move it through the stages, and the trace events of every decision.
-- Owned by libcommon (spool.c); services touch it only through spool.h.

CREATE SCHEMA IF NOT EXISTS spool;

CREATE TABLE spool.messages (
    id          bigserial PRIMARY KEY,
    queue_id    text        NOT NULL UNIQUE,
    parent_id   bigint      REFERENCES spool.messages(id),
    origin      text        NOT NULL,              -- mx, lists, dsn, ...
    mail_from   text        NOT NULL,              -- '' is the null sender
    rcpts       text[]      NOT NULL,
    client_ip   text,
    helo        text,
    message_id  text,                              -- Message-ID header value
    size        integer     NOT NULL,
    raw         bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_message_id ON spool.messages (message_id);

CREATE TABLE spool.jobs (
    id           bigserial PRIMARY KEY,
    stage        text        NOT NULL,             -- rewrite, lists, archive, relay
    message_id   bigint      NOT NULL REFERENCES spool.messages(id),
    payload      jsonb       NOT NULL DEFAULT '{}',
    state        text        NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'done', 'failed')),
    due_at       timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    attempts     integer     NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jobs_runnable ON spool.jobs (stage, due_at) WHERE state = 'pending';
CREATE INDEX jobs_message ON spool.jobs (message_id);

CREATE TABLE spool.events (
    id          bigserial PRIMARY KEY,
    message_id  bigint      NOT NULL REFERENCES spool.messages(id),
    job_id      bigint,
    service     text        NOT NULL,
    event       text        NOT NULL,
    detail      jsonb,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_message ON spool.events (message_id);
