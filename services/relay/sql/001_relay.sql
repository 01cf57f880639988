-- 001_relay.sql - the relay's delivery queue: one row per (relay job,
-- recipient) with its state and retry schedule. Owned by services/relay
-- (relay_db.c, relay_api.c). 'deferred' is not a state of its own: it is a
-- pending row with a last_reply (a failed attempt).

CREATE SCHEMA IF NOT EXISTS relay;

CREATE TABLE relay.deliveries (
    id              bigserial   PRIMARY KEY,
    job_id          bigint      NOT NULL,          -- spool.jobs.id (stage relay)
    message_id      bigint      NOT NULL,          -- spool.messages.id
    queue_id        text        NOT NULL,          -- spool.messages.queue_id
    mail_from       text        NOT NULL,          -- envelope sender used ('' = null)
    rcpt            text        NOT NULL,
    state           text        NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'bounced')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_reply      text,
    last_host       text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (job_id, rcpt)
);
CREATE INDEX deliveries_queue_id ON relay.deliveries (queue_id);
CREATE INDEX deliveries_state ON relay.deliveries (state, id);
CREATE INDEX deliveries_due ON relay.deliveries (job_id, next_attempt_at)
    WHERE state = 'pending';
