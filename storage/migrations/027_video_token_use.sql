-- Every join with a video token, as the video server reports it: the first
-- use of a token is the only one allowed; a later one is recorded as a
-- reuse and its participant removed from the room.
CREATE TABLE telehealth_token_use (
  id    bigserial   PRIMARY KEY,
  jti   text        NOT NULL,
  room  text        NOT NULL,
  kind  text        NOT NULL CHECK (kind IN ('FIRST', 'REUSE', 'UNKNOWN')),
  at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE UNIQUE INDEX telehealth_token_first_use ON telehealth_token_use (jti) WHERE kind = 'FIRST';
SELECT make_append_only('telehealth_token_use');
GRANT USAGE ON SEQUENCE telehealth_token_use_id_seq TO fhir_app;
