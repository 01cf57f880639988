-- 003_member_bounces.sql - VERP per list and per-member bounce counters
-- (docs/lists.md "VERP and bounce counters"). Owned by services/lists.
--
-- lists.verp: NULL follows the relay's MAILYARD_RELAY_VERP, true/false
-- overrides it for the list's copies (the relay job payload says so).
-- members.bounce_count / last_bounce_at: bounces (null envelope sender)
-- that came back to the member's VERP address of the list, as decoded by
-- rewrite (rewrite_verp.c) and handed over in the lists job payload.

ALTER TABLE lists.lists
    ADD COLUMN verp boolean;

ALTER TABLE lists.members
    ADD COLUMN bounce_count   integer     NOT NULL DEFAULT 0,
    ADD COLUMN last_bounce_at timestamptz;
