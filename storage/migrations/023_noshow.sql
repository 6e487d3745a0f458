-- No-show policy: per visit type, how long after an appointment's start
-- the patient may still come (grace), and what the server then does.
-- Versions: the newest row of a visit type is in force.
CREATE TABLE noshow_policy (
  id            bigserial   PRIMARY KEY,
  visit_type    text        NOT NULL,
  grace_minutes integer     NOT NULL CHECK (grace_minutes >= 0),
  action        text        NOT NULL CHECK (action IN ('CANCEL', 'CONVERT_TO_ASYNC', 'HOLD')),
  actor         text        NOT NULL,
  at            timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX noshow_policy_visit_type ON noshow_policy (visit_type, id);

-- The no-shows acted on: one row per appointment, ever (the primary key),
-- so that of several server instances running the job at once exactly one
-- acts; it is also each patient's no-show log.
CREATE TABLE noshow_action (
  appointment text        PRIMARY KEY,
  patient     text        NOT NULL,
  visit_type  text        NOT NULL,
  action      text        NOT NULL,
  at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX noshow_action_patient ON noshow_action (patient, at);

SELECT make_append_only('noshow_policy');
SELECT make_append_only('noshow_action');
GRANT USAGE ON SEQUENCE noshow_policy_id_seq TO fhir_app;
