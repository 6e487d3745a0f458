-- Identifier index rows, written in the same transaction as the version row
-- they describe, so conditional interactions can match identifier=system|value.
-- Rows belong to a version; a match counts only if that version is current.
CREATE TABLE resource_identifier (
  type    text   NOT NULL,
  id      text   NOT NULL,
  version bigint NOT NULL,
  system  text   NOT NULL,
  value   text   NOT NULL,
  FOREIGN KEY (type, id, version) REFERENCES resource_version (type, id, version)
);

CREATE INDEX resource_identifier_value ON resource_identifier (type, value, system);

SELECT make_append_only('resource_identifier');
