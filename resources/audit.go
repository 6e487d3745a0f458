package resources

import (
	"context"

	"github.com/fhirserver/fhirserver/storage"
)

// Recorder builds the audit record of the request a write serves. The
// record commits in the write's own transaction: no write is stored
// without its record, and a record that cannot be written refuses the
// write. A request without a Recorder (a background job, a command) is
// audited, if at all, by whoever runs it.
type Recorder interface {
	// Record is the request's audit record, for a write answered with
	// status that touched keys.
	Record(status int, touched []storage.Key) ([]byte, error)
	// Committed says a record of the request went out with a commit, so
	// that the request need not be audited again once answered.
	Committed()
}

type recorderKey struct{}

// WithRecorder makes r the audit recorder of the writes made under ctx.
func WithRecorder(ctx context.Context, r Recorder) context.Context {
	return context.WithValue(ctx, recorderKey{}, r)
}

func recorderOf(ctx context.Context) Recorder {
	r, _ := ctx.Value(recorderKey{}).(Recorder)
	return r
}

// audit gives tx the request's audit record of a write, when the request
// has a recorder.
func audit(ctx context.Context, tx *storage.Tx, status int, touched []storage.Key) error {
	r := recorderOf(ctx)
	if r == nil {
		return nil
	}
	event, err := r.Record(status, touched)
	if err != nil {
		return err
	}
	tx.Audit(event)
	return nil
}

// audited tells the request's recorder, if any, that a write committed
// with its record.
func audited(ctx context.Context, err error) error {
	if r := recorderOf(ctx); r != nil && err == nil {
		r.Committed()
	}
	return err
}
