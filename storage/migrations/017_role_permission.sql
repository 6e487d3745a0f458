-- Role permissions as data: what a user of each role may do to each
-- resource type ("*": every type), on top of what an app's scopes allow.
-- Each grant or revocation is a row of its own; the newest row of a
-- (role, type, action) decides. A change notifies the servers, which drop
-- what they cached: it takes effect for the next request.
CREATE TABLE role_permission_change (
  id            bigserial   PRIMARY KEY,
  at            timestamptz NOT NULL DEFAULT clock_timestamp(),
  actor         text        NOT NULL CHECK (actor <> ''),
  role          text        NOT NULL CHECK (role <> ''),
  resource_type text        NOT NULL CHECK (resource_type <> ''),
  action        char(1)     NOT NULL CHECK (action IN ('c', 'r', 'u', 'd', 's')),
  granted       boolean     NOT NULL
);
CREATE INDEX role_permission_change_role ON role_permission_change (role, resource_type, action, id DESC);
SELECT make_append_only('role_permission_change');
GRANT USAGE ON SEQUENCE role_permission_change_id_seq TO fhir_app;

CREATE VIEW role_permission AS
  SELECT role, resource_type, action FROM (
    SELECT DISTINCT ON (role, resource_type, action) role, resource_type, action, granted
    FROM role_permission_change ORDER BY role, resource_type, action, id DESC) latest
  WHERE granted;
GRANT SELECT ON role_permission TO fhir_app;

CREATE FUNCTION notify_role_permission() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('role_permission', NEW.role);
  RETURN NULL;
END
$$;
CREATE TRIGGER role_permission_notify AFTER INSERT ON role_permission_change
  FOR EACH ROW EXECUTE FUNCTION notify_role_permission();

-- The starting permissions, changed like any others: clinicians may do
-- everything to clinical data, patients read and search (their own record:
-- the server holds them to it), auditors read the audit log.
INSERT INTO role_permission_change (actor, role, resource_type, action, granted)
SELECT 'migration', r.role, r.resource_type, a, true
FROM (VALUES ('clinician', '*', 'cruds'), ('patient', '*', 'rs'), ('auditor', 'AuditEvent', 'rs')) AS r(role, resource_type, actions),
     LATERAL unnest(string_to_array(r.actions, NULL)) AS a;
