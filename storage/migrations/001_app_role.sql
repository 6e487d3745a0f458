-- The server connects as the migrating (owner) role and then SET ROLE fhir_app
-- on every pooled connection. fhir_app gets only the privileges each table
-- needs, so an append-only table is protected by missing privileges as well
-- as by its triggers. Roles are cluster-wide: several databases share it.
DO $$
BEGIN
  CREATE ROLE fhir_app NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL;
END
$$;

GRANT fhir_app TO CURRENT_USER;
GRANT USAGE ON SCHEMA public TO fhir_app;
GRANT SELECT ON schema_version TO fhir_app;

-- One trigger function for every append-only table: it refuses UPDATE,
-- DELETE and TRUNCATE whoever asks, the owner included.
CREATE FUNCTION refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'P0001';
END
$$;

-- make_append_only puts a table under both guards: the triggers above, and
-- only SELECT and INSERT for fhir_app.
CREATE FUNCTION make_append_only(t regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION refuse_change()',
                 t::text || '_append_only', t);
  EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()',
                 t::text || '_no_truncate', t);
  EXECUTE format('REVOKE ALL ON %s FROM PUBLIC', t);
  EXECUTE format('GRANT SELECT, INSERT ON %s TO fhir_app', t);
END
$$;
