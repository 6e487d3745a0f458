-- Failed authentications (client secrets and assertions, sign-in
-- passwords), counted per client id, per username and per source address
-- so that every server instance sees the same counts. One row per key
-- ('client:ID', 'user:NAME', 'address:IP'): the failures still inside the
-- window, and the end of the lockout they caused. Only failures write.
--
-- Unlike the evidence tables it is not append-only: it is a counter, a row
-- is rewritten on each failure and deleted once stale. The evidence is in
-- admin_audit, which records each lockout.
CREATE TABLE auth_limit (
  key          text          PRIMARY KEY,
  lock_after   int           NOT NULL,            -- the threshold in force at the last failure
  failures     timestamptz[] NOT NULL DEFAULT '{}', -- inside the window, oldest first
  locked_until timestamptz,
  stale_after  timestamptz   NOT NULL             -- then the row counts nothing: it may go
);
CREATE INDEX auth_limit_stale ON auth_limit (stale_after);
REVOKE ALL ON auth_limit FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON auth_limit TO fhir_app;

-- auth_recent keeps the failures still inside the window.
CREATE FUNCTION auth_recent(failures timestamptz[], span interval) RETURNS timestamptz[]
LANGUAGE sql STABLE AS $$
  SELECT coalesce(array_agg(t ORDER BY t), '{}') FROM unnest(failures) t WHERE t > now() - span
$$;

-- A resource server may introspect any client's tokens; any other client
-- only its own.
ALTER TABLE oauth2_client ADD COLUMN resource_server boolean NOT NULL DEFAULT false;
