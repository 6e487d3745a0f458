-- Telehealth sessions. A session is an Encounter of class virtual (VR);
-- these tables keep what is not clinical record: its states (every move an
-- event), the video rooms it has had (the newest row is in force: a failed
-- provider is replaced by a new row, the Encounter unchanged), the video
-- tokens issued, and the technical quality reports (packet loss, bitrate,
-- disconnects), kept apart from the clinical record.
CREATE TABLE telehealth_event (
  id         bigserial   PRIMARY KEY,
  encounter  text        NOT NULL,
  practitioner text,
  at         timestamptz NOT NULL DEFAULT clock_timestamp(),
  actor      text        NOT NULL,
  from_state text,
  to_state   text        NOT NULL CHECK (to_state IN ('SCHEDULED', 'WAITING_ROOM', 'ACTIVE', 'COMPLETED', 'ABANDONED', 'NO_SHOW'))
);
CREATE INDEX telehealth_event_encounter ON telehealth_event (encounter, id);
CREATE INDEX telehealth_event_practitioner ON telehealth_event (practitioner, id);

CREATE TABLE telehealth_room (
  id        bigserial   PRIMARY KEY,
  encounter text        NOT NULL,
  provider  text        NOT NULL,
  room      text        NOT NULL,
  at        timestamptz NOT NULL DEFAULT clock_timestamp(),
  reason    text
);
CREATE INDEX telehealth_room_encounter ON telehealth_room (encounter, id);

CREATE TABLE telehealth_token (
  jti         text        PRIMARY KEY,
  encounter   text        NOT NULL,
  participant text        NOT NULL,
  provider    text        NOT NULL,
  issued      timestamptz NOT NULL DEFAULT clock_timestamp(),
  expires     timestamptz NOT NULL
);

CREATE TABLE telehealth_quality (
  id          bigserial   PRIMARY KEY,
  encounter   text        NOT NULL,
  at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  kind        text        NOT NULL CHECK (kind IN ('PACKET_LOSS', 'BITRATE_DROP', 'DISCONNECT', 'RECONNECT', 'JITTER')),
  value       jsonb       NOT NULL,
  reported_by text        NOT NULL
);
CREATE INDEX telehealth_quality_encounter ON telehealth_quality (encounter, at);

SELECT make_append_only('telehealth_event');
SELECT make_append_only('telehealth_room');
SELECT make_append_only('telehealth_token');
SELECT make_append_only('telehealth_quality');
GRANT SELECT, INSERT ON telehealth_event, telehealth_room, telehealth_token, telehealth_quality TO fhir_care;
GRANT USAGE ON SEQUENCE telehealth_event_id_seq, telehealth_room_id_seq, telehealth_quality_id_seq TO fhir_app, fhir_care;
