-- Patient/$everything pages through a patient's compartment in (type, id)
-- order and stops when a page is full. The reverse index on (target_type,
-- target_id) alone made every page read all of the patient's rows from the
-- table; this one holds the rest of the row, in that order, and serves
-- _revinclude and reverse chains as the reverse index did.
CREATE INDEX search_reference_compartment ON search_reference (target_type, target_id, type, id, version, param);
DROP INDEX search_reference_reverse;
