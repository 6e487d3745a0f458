-- One row a link (issue 18, goal 3): a link now keeps its records in
-- itself, their times and their AuditEvents as arrays, instead of a row
-- each in audit_event with three index entries each. PostgreSQL's CPU a
-- record falls by two thirds at the links the server makes under load
-- (storage/audit BenchmarkLinkShapes). A record's AuditEvent id names its
-- place (stripe.link.position), so the read by id is the primary key's.
--
-- recorded is, for these links, the time of their newest record and
-- first_recorded that of their oldest, so that a search by date finds
-- their links by the index below. Links written before keep their rows in
-- audit_event and verify and read as before; audit_record shows both.
ALTER TABLE audit_link
  ADD COLUMN first_recorded timestamptz,
  ADD COLUMN times timestamptz[],
  ADD COLUMN events text[];
-- NOT VALID: every link written before has neither; nothing to scan.
ALTER TABLE audit_link ADD CONSTRAINT audit_link_records CHECK (
  (times IS NULL AND events IS NULL AND first_recorded IS NULL)
  OR (cardinality(times) = count AND cardinality(events) = count AND first_recorded IS NOT NULL)) NOT VALID;
-- A link's records stay in its row, compressed, up to a page: moved out
-- of line they would cost a TOAST row and index entry every 2 kB.
ALTER TABLE audit_link SET (toast_tuple_target = 8160);
DO $$
BEGIN
  -- lz4 costs a fraction of pglz's CPU; a PostgreSQL built without it
  -- keeps pglz.
  ALTER TABLE audit_link ALTER COLUMN events SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
  NULL;
END
$$;
-- The AuditEvent search reads links newest first, in this index's order.
CREATE INDEX audit_link_recorded ON audit_link (recorded, stripe, link);

-- Every record, whichever way its link keeps it: the AuditEvent search
-- reads these, and so may an operator (audit_record). sorted is where a
-- record sorts newest first (its own time before this migration, its
-- link's since) and link_first the oldest time its link holds, for the
-- search's bounds to reach the link index. The search reads the two
-- views apart, each in its index's order.
CREATE VIEW audit_record_by_row AS
  SELECT e.stripe, e.link, e.position, e.recorded,
         e.recorded AS sorted, e.recorded AS link_first,
         coalesce(e.event_json::text, e.event) AS event
  FROM audit_event e;
CREATE VIEW audit_record_by_link AS
  SELECT l.stripe, l.link, (x.n - 1)::integer AS position, x.recorded,
         l.recorded AS sorted, l.first_recorded AS link_first, x.event
  FROM audit_link l CROSS JOIN LATERAL unnest(l.times, l.events) WITH ORDINALITY AS x(recorded, event, n)
  WHERE l.events IS NOT NULL;
CREATE VIEW audit_record AS
  SELECT * FROM audit_record_by_row UNION ALL SELECT * FROM audit_record_by_link;
GRANT SELECT ON audit_record, audit_record_by_row, audit_record_by_link TO fhir_app, fhir_care;
-- Auditors' requests, held to care, read a record by id from its link.
GRANT SELECT ON audit_link TO fhir_care;
