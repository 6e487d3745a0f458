package resources

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/resources/access"
	"github.com/fhirserver/fhirserver/storage"
	"github.com/fhirserver/fhirserver/storage/storagetest"
)

func TestMain(m *testing.M) { storagetest.Main(m) }

const pageObservations = 300

// bigPatient seeds a patient with pageObservations observations, each
// pointing at one practitioner (an include), and returns the service and
// the database's owner.
func bigPatient(t *testing.T) (*Service, string) {
	t.Helper()
	store, owner := storagetest.Open(t)
	s := New(store, nil)
	ctx, c := context.Background(), access.System("test")
	put := func(typ, id, body string) {
		_, err := s.Update(ctx, c, storage.Key{Type: typ, ID: id}, []byte(body), Options{BaseURL: "http://x/fhir"})
		require.NoError(t, err)
	}
	put("Patient", "big", `{"resourceType":"Patient","id":"big"}`)
	put("Practitioner", "doc", `{"resourceType":"Practitioner","id":"doc"}`)
	for i := range pageObservations {
		id := fmt.Sprintf("o%03d", i)
		put("Observation", id, `{"resourceType":"Observation","id":"`+id+`","status":"final","code":{"text":"x"},`+
			`"subject":{"reference":"Patient/big"},"performer":[{"reference":"Practitioner/doc"}]}`)
	}
	return s, owner
}

// pageCase is a page a client can ask for: a search, a compartment
// search, $everything.
type pageCase struct {
	name    string
	entries int
	page    func(t *testing.T, s *Service) Result
}

var pageCases = []pageCase{
	{"search with an include", pageObservations + 1, func(t *testing.T, s *Service) Result {
		q := url.Values{"subject": {"Patient/big"}, "_count": {"1000"}, "_include": {"Observation:performer"}}
		r, err := s.StreamSearch(context.Background(), access.System("test"), "Observation", q, Options{BaseURL: "http://x/fhir"}, nil)
		require.NoError(t, err)
		return r
	}},
	{"search of one chunk, read with its keys", 50, func(t *testing.T, s *Service) Result {
		q := url.Values{"subject": {"Patient/big"}, "_count": {"50"}}
		r, err := s.StreamSearch(context.Background(), access.System("test"), "Observation", q, Options{BaseURL: "http://x/fhir"}, nil)
		require.NoError(t, err)
		return r
	}},
	{"compartment search with _summary", pageObservations, func(t *testing.T, s *Service) Result {
		q := url.Values{"_count": {"1000"}, "_summary": {"true"}}
		r, err := s.StreamSearch(context.Background(), access.System("test"), "Observation", q, Options{BaseURL: "http://x/fhir"}, &storage.Key{Type: "Patient", ID: "big"})
		require.NoError(t, err)
		return r
	}},
	{"history", pageObservations + 2, func(t *testing.T, s *Service) Result {
		r, err := s.History(context.Background(), access.System("test"), HistoryParams{Query: url.Values{"_count": {"1000"}}}, Options{BaseURL: "http://x/fhir"})
		require.NoError(t, err)
		return r
	}},
	{"$everything", pageObservations + 2, func(t *testing.T, s *Service) Result {
		c := access.System("test")
		e := storage.Everything{PatientID: "big"}
		page, err := s.EverythingPage(context.Background(), c, &e, nil, 1000, url.Values{})
		require.NoError(t, err)
		r, err := s.Searchset(context.Background(), c, "http://x/fhir", page.Versions, nil)
		require.NoError(t, err)
		return r
	}},
}

// writes records what reached the writer, and when.
type writes struct{ bytes.Buffer }

// A page's Bundle reaches its writer while its bodies are still being
// read, and never more than a chunk of bodies is held at once; what it
// writes is the Bundle Search buffers.
func TestPagesStreamAChunkOfBodiesAtATime(t *testing.T) {
	s, _ := bigPatient(t)
	for _, tc := range pageCases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.page(t, s)
			require.NotNil(t, r.Stream, "a page is streamed")
			assert.Nil(t, r.Body, "a page is never held whole")
			assert.Len(t, r.Keys, tc.entries, "the audit record has every key before any body is read")
			var w writes
			var reads []int
			var writtenBefore []int // entries already written at each read
			s.bodiesRead = func(n int) {
				reads = append(reads, n)
				writtenBefore = append(writtenBefore, bytes.Count(w.Bytes(), []byte(`"fullUrl"`)))
			}
			defer func() { s.bodiesRead = nil }()
			require.NoError(t, r.Stream(context.Background(), &w))
			total := 0
			for i, n := range reads {
				assert.LessOrEqual(t, n, bodyChunk, "bodies held at once")
				assert.Equal(t, total, writtenBefore[i], "read %d: every entry before it is written first", i)
				total += n
			}
			assert.Equal(t, tc.entries, total)
			assert.Greater(t, len(reads), tc.entries/bodyChunk)
			var b struct {
				ResourceType string
				Entry        []json.RawMessage
			}
			require.NoError(t, json.Unmarshal(w.Bytes(), &b), "a whole Bundle")
			assert.Len(t, b.Entry, tc.entries)

			buffered, err := r.buffered(context.Background())
			require.NoError(t, err)
			assert.Equal(t, string(buffered.Body), w.String(), "the same bytes as the buffered page")
		})
	}
}

// A body lost between the page's keys and its entries (a failure of the
// read mid-stream) leaves the Bundle unfinished, never one with an entry
// less.
func TestAPageWhoseBodyReadFailsIsLeftBroken(t *testing.T) {
	s, owner := bigPatient(t)
	for _, tc := range pageCases {
		if tc.entries < 3*bodyChunk {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			r := tc.page(t, s)
			lost := r.Keys[3*bodyChunk-1] // in the third chunk
			deleteVersions(t, owner, lost)
			var w writes
			err := r.Stream(context.Background(), &w)
			require.Error(t, err)
			assert.False(t, json.Valid(w.Bytes()), "no well-formed Bundle: %s", tail(w.Bytes()))
			assert.Equal(t, 2*bodyChunk, bytes.Count(w.Bytes(), []byte(`"fullUrl"`)), "the chunks before it were sent")
		})
	}
}

// deleteVersions removes k's version rows behind the append-only
// triggers, as a failing disk or a broken replica would lose them.
func deleteVersions(t *testing.T, owner string, k storage.Key) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, owner)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `SET session_replication_role = replica`)
	require.NoError(t, err)
	tag, err := conn.Exec(ctx, `DELETE FROM resource_version WHERE type = $1 AND id = $2`, k.Type, k.ID)
	require.NoError(t, err)
	require.Positive(t, tag.RowsAffected())
}

func tail(b []byte) []byte { return b[max(len(b)-80, 0):] }
