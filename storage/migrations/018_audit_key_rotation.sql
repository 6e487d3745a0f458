-- A new key-encryption key re-wraps the audit key as a new row; the newest
-- row is the one in use, and the audit log itself is never rewritten.
ALTER TABLE audit_key DROP CONSTRAINT audit_key_id_check;
