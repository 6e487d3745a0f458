-- The registration role registers patients and schedules visits: it makes
-- the care relationships (Encounters, Appointments, CareTeams) that let a
-- clinician see a patient, for any patient (resources.RegistrationRole).
-- Its starting permissions are demographics and scheduling, no clinical
-- data, changed like any others with `fhirserver roles set`.
INSERT INTO role_permission_change (actor, role, resource_type, action, granted)
SELECT 'migration', 'registration', r.resource_type, a, true
FROM (VALUES ('Patient', 'crus'), ('Appointment', 'crus'), ('Encounter', 'crus'), ('EpisodeOfCare', 'crus'), ('CareTeam', 'crus'),
             ('Slot', 'rs'), ('Schedule', 'rs'), ('Practitioner', 'rs'), ('PractitionerRole', 'rs'), ('Location', 'rs'),
             ('Organization', 'rs'), ('HealthcareService', 'rs')) AS r(resource_type, actions),
     LATERAL unnest(string_to_array(r.actions, NULL)) AS a;
