-- Minimum necessary (HIPAA 164.502(b)): a clinician sees only the patients
-- with whom they have an active care relationship, enforced by row-level
-- security so that even a raw query of the application cannot return
-- another patient's rows.
--
-- Each version row names the patients it concerns (the patient itself, or
-- the patients it refers to). Requests held to care relationships run as
-- fhir_care, whose policies show a version only when it concerns no patient
-- or one the request may see: the patients of the practitioner's active
-- Encounters, Appointments and CareTeams (fhir.practitioner), and those
-- given explicitly (fhir.patients: a patient's own record, break-glass).
-- Every other request runs as fhir_app, which bypasses row-level security
-- (so that its plans and COPY are those of a table without it).

ALTER TABLE resource_version ADD COLUMN patients text[];

ALTER TABLE resource_version DISABLE TRIGGER resource_version_append_only;
UPDATE resource_version v SET patients = p.patients
FROM (
  SELECT type, id, version, array_agg(DISTINCT patient ORDER BY patient) AS patients FROM (
    SELECT type, id, version, target_id AS patient FROM search_reference WHERE target_type = 'Patient' AND target_id IS NOT NULL
    UNION ALL
    SELECT type, id, version, id FROM resource_version WHERE type = 'Patient'
  ) x GROUP BY type, id, version
) p
WHERE v.type = p.type AND v.id = p.id AND v.version = p.version;
ALTER TABLE resource_version ENABLE TRIGGER resource_version_append_only;

DO $$
BEGIN
  CREATE ROLE fhir_care NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL;
END
$$;
GRANT fhir_care TO CURRENT_USER;
ALTER ROLE fhir_app BYPASSRLS;
GRANT USAGE ON SCHEMA public TO fhir_care;
GRANT SELECT, INSERT ON resource_version, search_string, search_token, search_reference, search_date, search_number,
  search_quantity, search_uri, search_composite TO fhir_care;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO fhir_care;
-- Auditors' requests are held to care too; the audit log is not patient
-- data under care, and who may read it is decided before the query.
GRANT SELECT ON audit_event TO fhir_care;

-- The patients a fhir_care request may see. SECURITY DEFINER: it reads the
-- care relationships whatever the caller may see.
CREATE FUNCTION fhir_care_patients() RETURNS text[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT coalesce(array_agg(DISTINCT p), '{}') FROM (
    SELECT unnest(string_to_array(nullif(current_setting('fhir.patients', true), ''), ',')) AS p
    UNION ALL
    SELECT s.target_id
    FROM search_reference r
    JOIN resource_version v ON v.type = r.type AND v.id = r.id AND v.version = r.version AND NOT v.deleted
    JOIN search_reference s ON s.type = r.type AND s.id = r.id AND s.version = r.version
     AND s.target_type = 'Patient' AND s.param = CASE r.type WHEN 'Appointment' THEN 'actor' ELSE 'subject' END
    WHERE r.target_type = 'Practitioner'
      AND r.target_id = nullif(current_setting('fhir.practitioner', true), '')
      AND r.type || ' ' || r.param IN ('Encounter participant', 'Appointment actor', 'CareTeam participant')
      AND NOT EXISTS (SELECT 1 FROM resource_version n WHERE n.type = v.type AND n.id = v.id AND n.version > v.version)
      AND EXISTS (SELECT 1 FROM search_token t WHERE t.type = r.type AND t.id = r.id AND t.version = r.version AND t.param = 'status'
        AND t.type || ' ' || t.code IN ('Encounter planned', 'Encounter arrived', 'Encounter triaged', 'Encounter in-progress',
          'Encounter onleave', 'Appointment proposed', 'Appointment pending', 'Appointment booked', 'Appointment arrived',
          'Appointment checked-in', 'Appointment waitlist', 'CareTeam proposed', 'CareTeam active'))
  ) x
$$;
REVOKE ALL ON FUNCTION fhir_care_patients() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION fhir_care_patients() TO fhir_care;

ALTER TABLE resource_version ENABLE ROW LEVEL SECURITY;
CREATE POLICY care_read ON resource_version FOR SELECT TO fhir_care
  USING (patients IS NULL OR patients && (SELECT fhir_care_patients()));
CREATE POLICY care_write ON resource_version FOR INSERT TO fhir_care WITH CHECK (true);

-- An index row is seen when its version row is.
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['search_string', 'search_token', 'search_reference', 'search_date', 'search_number',
                           'search_quantity', 'search_uri', 'search_composite'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY care_read ON %I FOR SELECT TO fhir_care USING (EXISTS (SELECT 1 FROM resource_version v
      WHERE v.type = %I.type AND v.id = %I.id AND v.version = %I.version))', t, t, t, t);
    EXECUTE format('CREATE POLICY care_write ON %I FOR INSERT TO fhir_care WITH CHECK (true)', t);
  END LOOP;
END
$$;

-- The inbound log holds whole bodies: fhir_care reads none of it (the
-- server logs a limited request's bodies as fhir_app).
ALTER TABLE inbound_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE inbound_outcome ENABLE ROW LEVEL SECURITY;
