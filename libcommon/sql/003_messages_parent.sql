-- 003_messages_parent.sql - trace follows a message's descendants (list
-- copies, DSNs) through parent_id; index it so that walk does not scan.
CREATE INDEX IF NOT EXISTS messages_parent ON spool.messages (parent_id);
