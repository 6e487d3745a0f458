-- Administrative actions (registering clients and users, new signing keys,
-- role and permission changes, exports) are recorded here, in the same
-- statement as the change itself. Like every append-only table, the
-- application role may only insert and read it.
CREATE TABLE admin_audit (
  id     bigserial   PRIMARY KEY,
  at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  actor  text        NOT NULL CHECK (actor <> ''),
  action text        NOT NULL,
  target text        NOT NULL,
  detail jsonb       NOT NULL DEFAULT '{}'
);
SELECT make_append_only('admin_audit');
GRANT USAGE ON SEQUENCE admin_audit_id_seq TO fhir_app;
