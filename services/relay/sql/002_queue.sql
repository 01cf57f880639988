-- 002_queue.sql - queue control (docs/queue.md): two more delivery states
-- and the log of delivery attempts. Owned by services/relay (relay_db.c
-- records attempts; relay_api.c and relay_queue_*.c read and change the
-- queue for operators).
--
--   held     an operator put the row on hold: never attempted, keeps its
--            job pending, until released (then due at once);
--   deleted  an operator deleted the recipient: never attempted again, no
--            DSN.

ALTER TABLE relay.deliveries DROP CONSTRAINT IF EXISTS deliveries_state_check;
ALTER TABLE relay.deliveries ADD CONSTRAINT deliveries_state_check
    CHECK (state IN ('pending', 'held', 'delivered', 'bounced', 'deleted'));

-- The recipient's domain, lower case, for the queue filters and summary.
CREATE INDEX deliveries_domain ON relay.deliveries
    (lower(substring(rcpt FROM '@([^@]*)$')), state);

-- One row per delivery attempt (a remote reply, or our explanation when no
-- host answered). result: delivered, deferred or bounced.
CREATE TABLE relay.attempts (
    id            bigserial   PRIMARY KEY,
    delivery_id   bigint      NOT NULL REFERENCES relay.deliveries(id) ON DELETE CASCADE,
    at            timestamptz NOT NULL DEFAULT now(),
    host          text,
    reply         text,
    tls_version   text,
    tls_cipher    text,
    tls_verify    text,
    result        text        NOT NULL CHECK (result IN ('delivered', 'deferred', 'bounced'))
);
CREATE INDEX attempts_delivery ON relay.attempts (delivery_id, id);
