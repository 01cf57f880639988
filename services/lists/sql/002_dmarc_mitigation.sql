-- 002_dmarc_mitigation.sql - per-list DMARC From mitigation (docs/lists.md,
-- libcommon/dmarc_mitigate.h): the mode, and whether it applies to every
-- post ("always") or only when the author's domain publishes a DMARC policy
-- of quarantine or reject.

ALTER TABLE lists.lists
    ADD COLUMN dmarc_mitigation text NOT NULL DEFAULT 'none'
        CHECK (dmarc_mitigation IN ('none', 'munge-from', 'wrap', 'encode-address')),
    ADD COLUMN dmarc_mitigation_always boolean NOT NULL DEFAULT false;
