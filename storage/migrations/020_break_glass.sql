-- Break-glass: a user's emergency access to a patient outside their care
-- relationships. The event is written before access is granted, and no one
-- can change or remove it; while it lasts, the user's queries see that
-- patient (storage.Care).
CREATE TABLE break_glass (
  id            bigserial   PRIMARY KEY,
  at            timestamptz NOT NULL DEFAULT clock_timestamp(),
  username      text        NOT NULL,
  fhir_user     text,
  patient       text        NOT NULL,
  justification text        NOT NULL CHECK (length(btrim(justification)) >= 20),
  purpose       text        NOT NULL,
  expires_at    timestamptz NOT NULL,
  review_task   text        NOT NULL -- the id of the compliance review Task
);
CREATE INDEX break_glass_user ON break_glass (username, expires_at);
SELECT make_append_only('break_glass');

-- The privacy officer reviews break-glass access: Tasks only (their
-- queries are not held to care relationships: reviews span patients).
INSERT INTO role_permission_change (actor, role, resource_type, action, granted)
SELECT 'migration', 'privacy-officer', 'Task', a, true FROM unnest(ARRAY['r', 's', 'u']) AS a;
GRANT USAGE ON SEQUENCE break_glass_id_seq TO fhir_app;
