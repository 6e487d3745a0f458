-- A candidate's token check (category=laboratory on a patient's
-- observations) must find that version's rows of the parameter, not scan
-- every row of the code. With the probe index alone, whose rows need the
-- table to see the code, a generic plan, taking any code for rare among
-- the many, preferred an index-only range scan of search_token_code for
-- each candidate: 1,300 buffers a probe at a million resources where this
-- index reads 5. Holding the columns a check reads makes the check
-- index-only too, so it wins whatever the planner knows of the code.
CREATE INDEX search_token_check ON search_token (id, version, param) INCLUDE (type, system, code);
DROP INDEX search_token_probe;
