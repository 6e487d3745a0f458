-- Auditors read the audit log as AuditEvent resources, by id and newest
-- first by date.
CREATE INDEX audit_event_id ON audit_event ((event->>'id'));
