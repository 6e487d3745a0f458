-- Every raw transaction, batch or load body is logged before it is
-- processed; its outcome is appended later as a row of its own, so neither
-- table is ever updated.
CREATE TABLE inbound_log (
  id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  kind        text        NOT NULL CHECK (kind IN ('transaction', 'batch', 'load', 'unknown')),
  sender      text        NOT NULL,
  body        bytea       NOT NULL
);

CREATE TABLE inbound_outcome (
  inbound_id  bigint      PRIMARY KEY REFERENCES inbound_log (id),
  finished_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  status      integer     NOT NULL,
  outcome     text        NOT NULL
);

SELECT make_append_only('inbound_log');
SELECT make_append_only('inbound_outcome');
