-- Every create, update and delete appends one row; a row is never changed.
-- The current version of a resource is the row with the highest version for
-- its (type, id): a backward scan of the primary key, one index descent
-- however long the history grows.
CREATE TABLE resource_version (
  type         text        NOT NULL,
  id           text        NOT NULL,
  version      bigint      NOT NULL CHECK (version > 0),
  seq          bigint      GENERATED ALWAYS AS IDENTITY,
  last_updated timestamptz NOT NULL,
  method       text        NOT NULL CHECK (method IN ('POST', 'PUT', 'PATCH', 'DELETE')),
  deleted      boolean     NOT NULL,
  resource     jsonb,
  PRIMARY KEY (type, id, version),
  CHECK (deleted = (resource IS NULL))
);

-- History at type and system level walks seq backwards.
CREATE INDEX resource_version_type_seq ON resource_version (type, seq);
CREATE UNIQUE INDEX resource_version_seq ON resource_version (seq);

SELECT make_append_only('resource_version');
