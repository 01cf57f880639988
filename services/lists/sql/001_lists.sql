-- 001_lists.sql - the lists service's schema: mailing lists, their members
-- and the moderation queue. Owned by services/lists (lists_store.c); no
-- other service reads these tables (rewrite asks GET /v1/lists/{addr}).
-- Addresses are stored lower-case. Held posts point at spool.messages by
-- id without a foreign key (schema per owner; the spool may be cleaned).

CREATE SCHEMA IF NOT EXISTS lists;

CREATE TABLE lists.lists (
    id             bigserial   PRIMARY KEY,
    address        text        NOT NULL UNIQUE CHECK (address = lower(address)),
    name           text        NOT NULL DEFAULT '',
    description    text        NOT NULL DEFAULT '',
    subject_prefix text        NOT NULL DEFAULT '',
    policy         text        NOT NULL DEFAULT 'members'
                   CHECK (policy IN ('members', 'open', 'moderated')),
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE lists.members (
    list_id    bigint      NOT NULL REFERENCES lists.lists(id) ON DELETE CASCADE,
    address    text        NOT NULL CHECK (address = lower(address)),
    role       text        NOT NULL DEFAULT 'member'
               CHECK (role IN ('member', 'owner', 'moderator')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (list_id, address)
);

CREATE TABLE lists.held (
    id          bigserial   PRIMARY KEY,
    list_id     bigint      NOT NULL REFERENCES lists.lists(id) ON DELETE CASCADE,
    message_id  bigint      NOT NULL,          -- spool.messages.id of the post
    mail_from   text        NOT NULL,          -- envelope sender ('' = null sender)
    from_header text,
    subject     text,
    reason      text        NOT NULL,          -- non-member, moderated
    state       text        NOT NULL DEFAULT 'held'
                CHECK (state IN ('held', 'approved', 'rejected')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    decided_at  timestamptz
);
CREATE INDEX held_list_state ON lists.held (list_id, state, id);
