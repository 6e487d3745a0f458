-- Scheduling. A slot's capacity is a set of units; a booking takes one
-- unit, and the database itself keeps a unit from being booked twice: a
-- unit's booking number g needs the release of booking g - 1 (a foreign
-- key), and a release needs its booking. Nothing is updated or deleted: a
-- cancellation is a release row, and a unit's history is the chain of its
-- bookings and releases. Even a writer that skipped every check in Go
-- could not put two live bookings on one unit, nor more bookings on a slot
-- than it has units.
CREATE TABLE slot_unit (
  slot text    NOT NULL, -- the Slot resource's id
  unit integer NOT NULL CHECK (unit > 0),
  PRIMARY KEY (slot, unit)
);

CREATE TABLE slot_release (
  slot   text        NOT NULL,
  unit   integer     NOT NULL,
  gen    integer     NOT NULL CHECK (gen >= 0), -- 0: the unit as created, free
  booked integer     GENERATED ALWAYS AS (nullif(gen, 0)) STORED,
  reason text,
  at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (slot, unit, gen),
  FOREIGN KEY (slot, unit) REFERENCES slot_unit
);

CREATE TABLE slot_booking (
  slot        text        NOT NULL,
  unit        integer     NOT NULL,
  gen         integer     NOT NULL CHECK (gen > 0),
  prev        integer     GENERATED ALWAYS AS (gen - 1) STORED,
  appointment text        NOT NULL, -- the Appointment resource's id
  at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (slot, unit, gen),
  FOREIGN KEY (slot, unit, prev) REFERENCES slot_release (slot, unit, gen)
);
CREATE INDEX slot_booking_appointment ON slot_booking (appointment);

ALTER TABLE slot_release ADD FOREIGN KEY (slot, unit, booked) REFERENCES slot_booking (slot, unit, gen);

-- A practitioner's weekly availability, as versions: the newest row is in
-- force. rules: [{"weekday":1,"start":"09:00","end":"12:00","slotMinutes":30,
-- "visitTypes":["FOLLOWUP"],"maxConcurrent":1}], times in tz.
CREATE TABLE availability (
  id           bigserial   PRIMARY KEY,
  practitioner text        NOT NULL,
  tz           text        NOT NULL,
  rules        jsonb       NOT NULL,
  actor        text        NOT NULL,
  at           timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX availability_practitioner ON availability (practitioner, id);

-- One-off blocks and holidays.
CREATE TABLE availability_override (
  id           bigserial   PRIMARY KEY,
  practitioner text        NOT NULL,
  starts       timestamptz NOT NULL,
  ends         timestamptz NOT NULL CHECK (ends > starts),
  reason       text        NOT NULL,
  actor        text        NOT NULL,
  at           timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX availability_override_practitioner ON availability_override (practitioner, starts);

-- Every change of an appointment's status: who, when, from, to, why.
CREATE TABLE appointment_event (
  id          bigserial   PRIMARY KEY,
  appointment text        NOT NULL,
  at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  actor       text        NOT NULL,
  from_status text,
  to_status   text        NOT NULL,
  reason      text
);
CREATE INDEX appointment_event_appointment ON appointment_event (appointment, id);

SELECT make_append_only('slot_unit');
SELECT make_append_only('slot_release');
SELECT make_append_only('slot_booking');
SELECT make_append_only('availability');
SELECT make_append_only('availability_override');
SELECT make_append_only('appointment_event');
GRANT SELECT, INSERT ON slot_unit, slot_release, slot_booking, availability, availability_override, appointment_event TO fhir_care;
GRANT USAGE ON SEQUENCE availability_id_seq, availability_override_id_seq, appointment_event_id_seq TO fhir_app, fhir_care;
-- SELECT ... FOR UPDATE needs an UPDATE privilege: a column's, on the
-- table whose rows a booking locks; its trigger still refuses any UPDATE.
GRANT UPDATE (unit) ON slot_unit TO fhir_app, fhir_care;
