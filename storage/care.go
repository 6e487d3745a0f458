package storage

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Care holds a request to the patients its user may see: those of the
// practitioner's active care relationships, and those listed (a patient's
// own record, break-glass). The database enforces it (row-level security,
// migration 019): the request's queries run as fhir_care with these set.
type Care struct {
	Practitioner string   // a Practitioner id, or ""
	Patients     []string // Patient ids seen whatever the relationships
}

// CareOf is the care limit of a signed-in user: a patient sees their own
// record, a practitioner the patients of their active care relationships,
// anyone else no patient's record.
func CareOf(fhirUser string) Care {
	if id, ok := strings.CutPrefix(fhirUser, "Patient/"); ok {
		return Care{Patients: []string{id}}
	}
	id, _ := strings.CutPrefix(fhirUser, "Practitioner/")
	return Care{Practitioner: id}
}

type careKey struct{}

// WithCare holds the queries made with ctx to c.
func WithCare(ctx context.Context, c Care) context.Context {
	return context.WithValue(ctx, careKey{}, c)
}

// Unrestricted drops a care limit from ctx: for the server's own
// bookkeeping (the inbound log) done on a limited request's behalf.
func Unrestricted(ctx context.Context) context.Context { return context.WithValue(ctx, careKey{}, nil) }

// identity is what a connection is set to: "" for fhir_app, otherwise the
// care limit it runs under.
func identity(ctx context.Context) (string, *Care) {
	c, ok := ctx.Value(careKey{}).(Care)
	if !ok {
		return "", nil
	}
	ps := slices.Clone(c.Patients)
	slices.Sort(ps)
	return "care:" + c.Practitioner + "|" + strings.Join(ps, ","), &c
}

const identityKey = "fhir.identity"

// prepareConn sets a pooled connection to the request's identity before
// the request uses it; a connection already set so costs nothing.
func prepareConn(ctx context.Context, conn *pgx.Conn) (bool, error) {
	want, care := identity(ctx)
	data := conn.PgConn().CustomData()
	if have, _ := data[identityKey].(string); have == want {
		return true, nil
	}
	var err error
	if care == nil {
		_, err = conn.Exec(ctx, `SELECT set_config('fhir.practitioner', '', false), set_config('fhir.patients', '', false), set_config('role', 'fhir_app', false)`)
	} else {
		_, err = conn.Exec(ctx, `SELECT set_config('fhir.practitioner', $1, false), set_config('fhir.patients', $2, false), set_config('role', 'fhir_care', false)`,
			care.Practitioner, strings.Join(care.Patients, ","))
	}
	if err != nil {
		delete(data, identityKey)
		return false, err
	}
	data[identityKey] = want
	return true, nil
}

// Patients names the patients a row concerns, as its version row will.
func (r Row) Patients() []string { return patientsOf(r) }

// CarePatients returns the patients ctx's care limit lets its queries
// see (migration 019's fhir_care_patients); only for a ctx WithCare.
func (s *Store) CarePatients(ctx context.Context) ([]string, error) {
	return carePatients(ctx, s.pool)
}

// CarePatients is Store.CarePatients inside the transaction: what it has
// written counts.
func (t *Tx) CarePatients(ctx context.Context) ([]string, error) {
	return carePatients(ctx, t.tx)
}

func carePatients(ctx context.Context, q querier) ([]string, error) {
	var ps []string
	if err := q.QueryRow(ctx, `SELECT fhir_care_patients()`).Scan(&ps); err != nil {
		return nil, fmt.Errorf("storage: care patients: %w", err)
	}
	return ps, nil
}

// patientsOf names the patients a version concerns: the patient itself,
// or those it refers to; nil when none (it is seen by every request).
func patientsOf(r Row) []string {
	var out []string
	if r.Type == "Patient" {
		out = append(out, r.ID)
	}
	for _, ref := range r.Index.References {
		if ref.TargetType != nil && *ref.TargetType == "Patient" && ref.TargetID != nil && !slices.Contains(out, *ref.TargetID) {
			out = append(out, *ref.TargetID)
		}
	}
	return out
}

// arrayLiteral writes ids as a PostgreSQL text[] literal, each quoted.
func arrayLiteral(ids []string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(id))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}
