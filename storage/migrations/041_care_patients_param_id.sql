-- fhir_care_patients() (migration 019) found an Encounter's, an
-- Appointment's or a CareTeam's status by the token row's type and param,
-- which the token indexes no longer hold (migrations 039, 040): every
-- care-limited request read those rows from the heap. It now names the
-- parameter by its id and takes the type from the reference row, so the
-- check can be read from search_token_check alone.
CREATE OR REPLACE FUNCTION fhir_care_patients() RETURNS text[]
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
      AND EXISTS (SELECT 1 FROM search_token t WHERE t.id = r.id AND t.version = r.version AND t.pid = param_id(r.type, 'status')
        AND r.type || ' ' || t.code IN ('Encounter planned', 'Encounter arrived', 'Encounter triaged', 'Encounter in-progress',
          'Encounter onleave', 'Appointment proposed', 'Appointment pending', 'Appointment booked', 'Appointment arrived',
          'Appointment checked-in', 'Appointment waitlist', 'CareTeam proposed', 'CareTeam active'))
  ) x
$$;
