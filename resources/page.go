package resources

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"

	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/storage"
)

// bodyChunk is how many resource bodies a streamed page holds at once: a
// page's keys are small, its bodies (up to 1,000 entries and their
// includes) are not.
const bodyChunk = 64

// streamedPage is a searchset (or history) Bundle known by its entries'
// keys: its audit record can be made durable from them before any body
// is read, and it is written a chunk of bodies at a time (Result.Stream).
type streamedPage struct {
	s       *Service
	c       access.Caller
	base    string
	head    *bundle           // id, total and links; no entries
	entries []storage.Version // the matches, then the includes; bodies at most a chunk's
	matches int
	// matchAs is the interaction a match's Group is redacted for (an
	// include's is a read), and keep the elements _summary or _elements
	// keep of a match (nil: all).
	matchAs access.Interaction
	keep    []string
	// history makes the entries a history's (request and response, a
	// tombstone without a resource) rather than a searchset's.
	history bool
	// seesMatch and seesInclude say which patients a Group among the
	// matches and the includes may list (nil: any).
	seesMatch, seesInclude func(string) bool
}

// result is the page's Result. The patients its Groups may list are
// worked out first, so that a failure to read them is still answered
// with an OperationOutcome, before the first byte.
func (p *streamedPage) result(ctx context.Context) (Result, error) {
	isGroup := func(v storage.Version) bool { return v.Type == "Group" }
	var err error
	if slices.ContainsFunc(p.entries[:p.matches], isGroup) {
		if p.seesMatch, err = patientsSeen(ctx, p.s.store, p.c, p.matchAs); err != nil {
			return Result{}, err
		}
	}
	if slices.ContainsFunc(p.entries[p.matches:], isGroup) {
		if p.seesInclude, err = patientsSeen(ctx, p.s.store, p.c, access.Read); err != nil {
			return Result{}, err
		}
	}
	return Result{Status: http.StatusOK, Stream: p.write, Keys: keysOf(p.entries)}, nil
}

// write sends the Bundle's head before it reads any body, then its
// entries a chunk at a time. An error leaves the Bundle unfinished; a
// caller that has sent part of it must cut the response, never finish it.
func (p *streamedPage) write(ctx context.Context, w io.Writer) error {
	out := p.head.appendHead(make([]byte, 0, 4096))
	if len(p.entries) == 0 {
		_, err := w.Write(append(out, '}'))
		return err
	}
	if _, err := w.Write(append(out, `,"entry":[`...)); err != nil {
		return err
	}
	chunk := make([]storage.Version, 0, bodyChunk)
	for start := 0; start < len(p.entries); start += bodyChunk {
		end := min(start+bodyChunk, len(p.entries))
		chunk = append(chunk[:0], p.entries[start:end]...)
		var err error
		if out, err = p.appendChunk(ctx, out[:0], start, chunk); err != nil {
			return err
		}
		if end == len(p.entries) {
			out = append(out, "]}"...)
		}
		if _, err := w.Write(out); err != nil {
			return err
		}
	}
	return nil
}

// appendChunk reads the bodies of chunk, the entries from start on, and
// appends them as entries shaped as the caller may see them.
func (p *streamedPage) appendChunk(ctx context.Context, out []byte, start int, chunk []storage.Version) ([]byte, error) {
	// Matches come first, and a small page's were read with their keys:
	// only the entries from the first without a body are read.
	if first := slices.IndexFunc(chunk, func(v storage.Version) bool { return v.Resource == nil && !v.Deleted }); first >= 0 {
		if err := p.s.store.Bodies(ctx, chunk[first:]); err != nil {
			return nil, err
		}
	}
	if p.s.bodiesRead != nil {
		p.s.bodiesRead(len(chunk))
	}
	split := min(max(p.matches-start, 0), len(chunk))
	if err := redactSeen(chunk[:split], p.seesMatch); err != nil {
		return nil, err
	}
	if err := redactSeen(chunk[split:], p.seesInclude); err != nil {
		return nil, err
	}
	for i := range chunk {
		if start+i > 0 {
			out = append(out, ',')
		}
		if p.history {
			e := historyEntry(p.base, chunk[i])
			out = e.append(out)
			continue
		}
		e := entry{FullURL: fullURL(p.base, chunk[i].Key), Resource: chunk[i].Resource, Search: &entrySearch{Mode: "match"}}
		if i >= split {
			e.Search.Mode = "include"
		} else if p.keep != nil {
			var err error
			if e.Resource, err = subset(e.Resource, p.keep); err != nil {
				return nil, err
			}
		}
		out = e.append(out)
	}
	return out, nil
}

// buffered is r with its stream written into Body, for a caller that
// reads the page itself (an operation, a batch entry, a job).
func (r Result) buffered(ctx context.Context) (Result, error) {
	if r.Stream == nil {
		return r, nil
	}
	var b bytes.Buffer
	if err := r.Stream(ctx, &b); err != nil {
		return Result{}, err
	}
	r.Body, r.Stream = b.Bytes(), nil
	return r, nil
}

// Searchset is a searchset Bundle of versions read without their bodies
// (EverythingPage), with total when known and links as (relation, url)
// pairs, for an operation answered by one; each Group is redacted as
// read by c. It is streamed as a search's page is.
func (s *Service) Searchset(ctx context.Context, c access.Caller, base string, versions []storage.Version, total *int, links ...[2]string) (Result, error) {
	b := newBundle("searchset")
	b.Total = total
	for _, l := range links {
		b.Link = append(b.Link, link{Relation: l[0], URL: l[1]})
	}
	p := &streamedPage{s: s, c: c, base: base, head: b, entries: slices.Clip(versions), matches: len(versions), matchAs: access.Read}
	return p.result(ctx)
}
