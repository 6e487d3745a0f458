-- Composite search parameters (code-value-quantity, ...) match values that
-- sit together in one element, so each row holds one combination of the
-- components' values from one element. The first component is a token (or
-- a reference, kept as Type/id in c1_code); the second is a token, string
-- (c2_text), quantity (c2_value, c2_system, c2_code, c2_unit), number
-- (c2_value) or date (c2_lo, c2_hi); a third is always a number.
CREATE TABLE search_composite (
  type text NOT NULL, id text NOT NULL, version bigint NOT NULL, param text NOT NULL,
  c1_system text, c1_code text,
  c2_system text, c2_code text, c2_text text, c2_unit text,
  c2_value numeric, c2_lo timestamptz, c2_hi timestamptz,
  c3_value numeric
);
CREATE INDEX search_composite_first ON search_composite (type, param, c1_code, c1_system, id, version);

SELECT make_append_only('search_composite');
