-- The waitlist: patients waiting for a practitioner's or a specialty's
-- slot. Each entry is an Appointment with status waitlist, and a row here
-- with the inputs of its priority score (urgency, when it joined, the
-- distance to the location); what happens to it — joined, promoted to a
-- freed slot, removed — is an event that records the score and its inputs,
-- so that the order is auditable.
CREATE TABLE waitlist_entry (
  id           bigserial   PRIMARY KEY,
  appointment  text        NOT NULL UNIQUE,
  patient      text        NOT NULL,
  practitioner text,
  specialty    text,       -- system|code
  visit_type   text,
  urgency      integer     NOT NULL CHECK (urgency BETWEEN 1 AND 5),
  distance_km  numeric     NOT NULL DEFAULT 0 CHECK (distance_km >= 0),
  joined       timestamptz NOT NULL DEFAULT clock_timestamp(),
  CHECK (practitioner IS NOT NULL OR specialty IS NOT NULL)
);
CREATE INDEX waitlist_entry_practitioner ON waitlist_entry (practitioner);
CREATE INDEX waitlist_entry_specialty ON waitlist_entry (specialty);

CREATE TABLE waitlist_event (
  id     bigserial   PRIMARY KEY,
  entry  bigint      NOT NULL REFERENCES waitlist_entry,
  at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  kind   text        NOT NULL CHECK (kind IN ('JOINED', 'PROMOTED', 'REMOVED')),
  slot   text,
  score  numeric     NOT NULL,
  inputs jsonb       NOT NULL, -- urgency, waited days, distance, the weights
  actor  text        NOT NULL,
  reason text
);
CREATE INDEX waitlist_event_entry ON waitlist_event (entry, id);

SELECT make_append_only('waitlist_entry');
SELECT make_append_only('waitlist_event');
GRANT SELECT, INSERT ON waitlist_entry, waitlist_event TO fhir_care;
GRANT USAGE ON SEQUENCE waitlist_entry_id_seq, waitlist_event_id_seq TO fhir_app, fhir_care;
