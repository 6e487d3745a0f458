-- Data keys other than the audit chain's (field encryption, the blind
-- index), each wrapped by the key provider; the newest of a purpose is in
-- use, older ones stay for what they encrypted.
CREATE TABLE data_key (
  id         bigserial   PRIMARY KEY,
  purpose    text        NOT NULL,
  kek        text        NOT NULL,
  wrapped    bytea       NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
SELECT make_append_only('data_key');
GRANT USAGE ON SEQUENCE data_key_id_seq TO fhir_app;
