-- The search index: one table per parameter type, one row per value a
-- version yields for a parameter. Rows are written in the transaction of
-- their version and never changed; a search matches only current versions
-- by checking that no newer version of the resource exists, so that a
-- superseded or deleted resource drops out without touching its rows.
-- Each value index carries (id, version) so that a search can be answered
-- from it before visiting resource_version.

CREATE TABLE search_string (
  type text NOT NULL, id text NOT NULL, version bigint NOT NULL, param text NOT NULL,
  value text NOT NULL, -- lower case, accents removed: what the default and :contains match
  exact text NOT NULL  -- as written: what :exact matches
);
CREATE INDEX search_string_value ON search_string (type, param, value text_pattern_ops, id, version);

CREATE TABLE search_token (
  type text NOT NULL, id text NOT NULL, version bigint NOT NULL, param text NOT NULL,
  system text, -- NULL: the value has no system
  code text,
  text text    -- display or text, normalised like strings, for :text
);
CREATE INDEX search_token_code ON search_token (type, param, code, system, id, version);

CREATE TABLE search_reference (
  type text NOT NULL, id text NOT NULL, version bigint NOT NULL, param text NOT NULL,
  target_type text, -- from Type/id, or from the end of an absolute URL
  target_id text,
  url text          -- absolute references and canonicals as written
);
CREATE INDEX search_reference_target ON search_reference (type, param, target_id, target_type, id, version);
CREATE INDEX search_reference_url ON search_reference (type, param, url, id, version) WHERE url IS NOT NULL;
CREATE INDEX search_reference_reverse ON search_reference (target_type, target_id);

CREATE TABLE search_date (
  type text NOT NULL, id text NOT NULL, version bigint NOT NULL, param text NOT NULL,
  lo timestamptz NOT NULL, -- inclusive
  hi timestamptz NOT NULL  -- exclusive: the end of the value's precision
);
CREATE INDEX search_date_range ON search_date (type, param, lo, hi, id, version);

CREATE TABLE search_number (
  type text NOT NULL, id text NOT NULL, version bigint NOT NULL, param text NOT NULL,
  value numeric NOT NULL
);
CREATE INDEX search_number_value ON search_number (type, param, value, id, version);

CREATE TABLE search_quantity (
  type text NOT NULL, id text NOT NULL, version bigint NOT NULL, param text NOT NULL,
  value numeric NOT NULL,
  system text, code text, unit text
);
CREATE INDEX search_quantity_value ON search_quantity (type, param, value, id, version);

CREATE TABLE search_uri (
  type text NOT NULL, id text NOT NULL, version bigint NOT NULL, param text NOT NULL,
  value text NOT NULL
);
CREATE INDEX search_uri_value ON search_uri (type, param, value text_pattern_ops, id, version);

SELECT make_append_only('search_string');
SELECT make_append_only('search_token');
SELECT make_append_only('search_reference');
SELECT make_append_only('search_date');
SELECT make_append_only('search_number');
SELECT make_append_only('search_quantity');
SELECT make_append_only('search_uri');

-- resource_identifier served conditional references and writes before
-- there was a search index; search_token (param identifier) holds the same
-- pairs now. It is derived data, read from the resources themselves.
DROP TABLE resource_identifier;
