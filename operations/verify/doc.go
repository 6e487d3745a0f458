// Package verify is AuditEvent/$verify: an auditor recomputes every audit
// hash chain and learns the first broken link, if any.
//
// It owns the operation's declaration and its answer; the chains and
// their checking are the audit log's (storage/audit). It may import
// operations, resources, outcome, storage and storage/audit; never another
// operation.
package verify
