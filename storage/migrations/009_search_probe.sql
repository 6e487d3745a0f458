-- A search with several parameters starts from the most selective one's
-- value index and checks the others for each candidate version. The value
-- indexes lead with the value, so that check would scan every row of a
-- common value (all 'laboratory' observations) for each candidate; these
-- indexes find a version's rows of one parameter directly.
CREATE INDEX search_string_probe ON search_string (id, version, param);
CREATE INDEX search_token_probe ON search_token (id, version, param);
CREATE INDEX search_reference_probe ON search_reference (id, version, param);
CREATE INDEX search_date_probe ON search_date (id, version, param);
CREATE INDEX search_number_probe ON search_number (id, version, param);
CREATE INDEX search_quantity_probe ON search_quantity (id, version, param);
CREATE INDEX search_uri_probe ON search_uri (id, version, param);
CREATE INDEX search_composite_probe ON search_composite (id, version, param);
