-- 003_delay_warning.sql - when the delay warning DSN (RFC 3464, Action:
-- delayed) was queued for a recipient, so it is sent at most once. Owned by
-- services/relay (relay_db_warn.c).

ALTER TABLE relay.deliveries ADD COLUMN IF NOT EXISTS delay_warned_at timestamptz;
