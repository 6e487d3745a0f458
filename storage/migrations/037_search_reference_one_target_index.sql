-- Every reference row was indexed twice by its target: (type, param,
-- target_id, target_type, id, version) for a search by reference, and
-- (target_type, target_id, type, id, version, param) for $everything's
-- compartment, _revinclude and reverse chains. Reference rows are a third
-- of what an ingest indexes (four a resource), and each index entry is a
-- random insert into a large btree: the second index cost the ingest about
-- a tenth of its index entries (issue 18, goal 5). One index serves both:
-- every reader fixes target_id and target_type, and a search by reference
-- also the type, after which rows come in (id, version) order as before,
-- the parameter checked inside the index (a resource's rows for one target
-- are few: subject and patient name the same one). target_id leads so that
-- a reader that does not know the target's type still reads only that id's
-- rows.
CREATE INDEX search_reference_target_by_id ON search_reference (target_id, target_type, type, id, version, param);
DROP INDEX search_reference_target;
DROP INDEX search_reference_compartment;
ALTER INDEX search_reference_target_by_id RENAME TO search_reference_target;
