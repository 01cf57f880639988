-- 006_dest_wait.sql - why a pending recipient was not tried: it waits for
-- its destination's rate limit (MAILYARD_RELAY_DOMAIN_POLICY, relay_dpol.c).
-- NULL when not waiting; cleared by the next attempt. Owned by
-- services/relay (relay_db_wait.c, relay_db.c); shown by the queue API.

ALTER TABLE relay.deliveries ADD COLUMN IF NOT EXISTS wait_reason text;
