-- The patient compartment of the token index (Blaze's compartment
-- search-param-value index). A search on a patient and a code
-- (Observation?patient=p&code=c) started from the patient's rows and
-- checked the code on each of them: the largest patient's 1,277
-- observations were 1,277 probes to keep 31, so a search cost as much as
-- its patient was large. Each token row now names a patient the version
-- concerns (resource_version.patients), one row per patient when there
-- are several, so that an index led by (patient, type, param, code)
-- reads a patient's matching rows directly, in id order. Rows of versions
-- that concern no patient keep patient NULL and stay out of that index.
ALTER TABLE search_token ADD COLUMN patient text;

-- Only a valid FHIR id is indexed (storage.CompartmentID): a reference
-- may name anything, and a btree row is bounded.
CREATE TEMPORARY TABLE compartment ON COMMIT DROP AS
SELECT v.type, v.id, v.version, array_agg(p ORDER BY p) AS patients
FROM resource_version v CROSS JOIN LATERAL unnest(v.patients) AS p
WHERE p ~ '^[A-Za-z0-9.-]{1,64}$'
GROUP BY v.type, v.id, v.version;

ALTER TABLE search_token DISABLE TRIGGER search_token_append_only;
UPDATE search_token t SET patient = c.patients[1]
FROM compartment c WHERE c.type = t.type AND c.id = t.id AND c.version = t.version;
ALTER TABLE search_token ENABLE TRIGGER search_token_append_only;

INSERT INTO search_token (type, id, version, param, system, code, text, patient)
SELECT t.type, t.id, t.version, t.param, t.system, t.code, t.text, p
FROM search_token t
JOIN compartment c ON c.type = t.type AND c.id = t.id AND c.version = t.version AND cardinality(c.patients) > 1
CROSS JOIN LATERAL unnest(c.patients[2:]) AS p
WHERE t.patient = c.patients[1];

-- A search by a patient's code names the code: rows without one (a
-- CodeableConcept's text alone, a fifth of them) stay out.
CREATE INDEX search_token_patient ON search_token (patient, type, param, code, id, version) INCLUDE (system)
  WHERE patient IS NOT NULL AND code IS NOT NULL;
