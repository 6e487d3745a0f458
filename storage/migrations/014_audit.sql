-- The audit log (HIPAA 164.312(b)): one row per access, each an AuditEvent
-- resource as written. Rows are committed in links of a hash chain: a link
-- holds the HMAC of its rows and of the link before it, under a key the
-- key provider keeps outside the database (audit_key holds it wrapped), so
-- an edited, deleted, inserted or reordered row breaks the chain at its
-- link. Several stripes, each a chain of its own, let concurrent requests
-- commit without queueing on one chain head.
CREATE TABLE audit_key (
  id         integer     PRIMARY KEY CHECK (id = 1),
  kek        text        NOT NULL, -- which key-encryption key wrapped it
  wrapped    bytea       NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE audit_link (
  stripe   smallint    NOT NULL,
  link     bigint      NOT NULL CHECK (link > 0),
  count    integer     NOT NULL CHECK (count > 0),
  prev     bytea       NOT NULL, -- the mac of link - 1; 32 zero bytes for the first
  mac      bytea       NOT NULL,
  recorded timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (stripe, link)
);

CREATE TABLE audit_event (
  stripe   smallint    NOT NULL,
  link     bigint      NOT NULL,
  position integer     NOT NULL,
  recorded timestamptz NOT NULL,
  event    json        NOT NULL, -- json, not jsonb: the bytes the mac covers
  PRIMARY KEY (stripe, link, position)
);
CREATE INDEX audit_event_recorded ON audit_event (recorded);

SELECT make_append_only('audit_key');
SELECT make_append_only('audit_link');
SELECT make_append_only('audit_event');
