-- A candidate's date check (patient+category+date: date=ge2020 on each of
-- a patient's laboratory observations) read the candidate's search_date
-- row from the table for its range: the probe index held no lo or hi.
-- At 64,000 patients (29 GB, more than the page cache) that was a random
-- heap read per candidate, and the search kept half its throughput at
-- 1,000 patients. Holding the columns a check reads makes it index-only,
-- as migration 011 did for tokens.
CREATE INDEX search_date_check ON search_date (id, version, param) INCLUDE (type, lo, hi);
DROP INDEX search_date_probe;
