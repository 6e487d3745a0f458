-- An audit record is stored as the bytes its link's MAC covers, without
-- a json parse on insert (issue 18, goal 3): event is now text, and the
-- record's AuditEvent id has a column of its own, filled by the server,
-- in place of the expression index that parsed each event a second time.
-- The rows written before keep their json, renamed event_json, and are
-- still found by id through that expression index, now covering only
-- them. A row holds one of the two; when it holds both (no server writes
-- that), event_json is the one read and verified.
ALTER TABLE audit_event RENAME COLUMN event TO event_json;
ALTER TABLE audit_event ALTER COLUMN event_json DROP NOT NULL,
  ADD COLUMN event text,
  ADD COLUMN id text;
-- NOT VALID: every row written before has event_json; nothing to scan.
ALTER TABLE audit_event ADD CONSTRAINT audit_event_has_event CHECK (event_json IS NOT NULL OR event IS NOT NULL) NOT VALID;
DROP INDEX audit_event_id;
CREATE INDEX audit_event_json_id ON audit_event ((event_json->>'id')) WHERE event_json IS NOT NULL;
CREATE INDEX audit_event_id ON audit_event (id);
