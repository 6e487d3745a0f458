-- A write's audit record commits in the write's own transaction (issue
-- 17): requests held to care relationships write as fhir_care, so it
-- appends to the audit chain too. It still cannot read, change or delete
-- a link (append-only, and the HMAC of each link is keyed outside the
-- database).
GRANT INSERT ON audit_link, audit_event TO fhir_care;
