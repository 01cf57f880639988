-- 003_dmarc_mitigation.sql - per-alias DMARC From mitigation
-- (docs/rewrite.md, services/rewrite/rewrite_dmarc.c): the mode applied to
-- the copy forwarded to the alias's off-domain targets, and whether it
-- applies to every message ("always") or only when the author's domain
-- publishes a DMARC policy of quarantine or reject.

ALTER TABLE rewrite.aliases
    ADD COLUMN dmarc_mitigation text NOT NULL DEFAULT 'none'
        CHECK (dmarc_mitigation IN ('none', 'munge-from', 'wrap', 'encode-address')),
    ADD COLUMN dmarc_mitigation_always boolean NOT NULL DEFAULT false;
