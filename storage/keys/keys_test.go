package keys_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirserver/fhirserver/resources"
	"github.com/fhirserver/fhirserver/storage"
	"github.com/fhirserver/fhirserver/storage/keyring"
	"github.com/fhirserver/fhirserver/storage/keys"
	"github.com/fhirserver/fhirserver/storage/storagetest"
)

// withFieldKeys gives a store the field keys kp unwraps, and returns
// their cipher.
func withFieldKeys(t *testing.T, s *storage.Store, kp keyring.Provider) *keys.Cipher {
	t.Helper()
	c, err := keys.New(s).Cipher(context.Background(), kp)
	require.NoError(t, err)
	s.SetFieldCipher(c)
	s.Protect(resources.Protection())
	return c
}

func localKeys(t *testing.T) keyring.Provider {
	t.Helper()
	kp, err := keyring.OpenLocalFile(filepath.Join(t.TempDir(), "kek"))
	require.NoError(t, err)
	return kp
}

// putSSN writes a version of a patient with an SSN and an address, both
// sealed at rest.
func putSSN(t *testing.T, s *storage.Store, id string, version int64) {
	t.Helper()
	ssn := fmt.Sprintf("123-45-%04d", version)
	body := `{"resourceType":"Patient","id":"` + id + `","identifier":[{"system":"` + resources.SSNSystem + `","value":"` + ssn + `"}],"address":[{"city":"Town ` + ssn + `"}]}`
	row := storage.Row{Key: storage.Key{Type: "Patient", ID: id}, Version: version, Method: "PUT", Resource: []byte(body)}
	require.NoError(t, s.InTx(context.Background(), func(tx *storage.Tx) error {
		return tx.Append(context.Background(), []storage.Row{row})
	}))
}

// sealedGenerations names, per version of a resource, the key generations
// its sealed values name (as the header of each sealed value does).
func sealedGenerations(t *testing.T, url, typ, id string) [][]int32 {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT array_agg(DISTINCT CASE WHEN substring(s FROM 1 FOR 4) = '\xfe67656e'::bytea
			THEN ('x' || encode(substring(s FROM 5 FOR 4), 'hex'))::bit(32)::int END)
		FROM resource_version v,
			LATERAL (SELECT decode(b #>> '{}', 'base64') AS s FROM jsonb_path_query(v.resource, 'strict $.**.valueBase64Binary') b) sealed
		WHERE v.type = $1 AND v.id = $2 GROUP BY v.version ORDER BY v.version`, typ, id)
	require.NoError(t, err)
	gens, err := pgx.CollectRows(rows, pgx.RowTo[[]int32])
	require.NoError(t, err)
	return gens
}

// A rotation makes a new generation that seals new writes (on the rotating
// server at once, on another within a second), recorded in the admin
// audit; every server opens every generation at once.
func TestRotatedDataKeySealsNewWritesAndOldOnesStayReadable(t *testing.T) {
	t.Parallel()
	ctx := storage.WithActor(context.Background(), "cli:operator")
	a, url := storagetest.Open(t)
	b, err := storage.Open(ctx, url, storage.Options{}, nil) // another server
	require.NoError(t, err)
	t.Cleanup(b.Close)
	kp := localKeys(t)
	ca := withFieldKeys(t, a, kp)
	cb := withFieldKeys(t, b, kp)

	putSSN(t, a, "p", 1)
	g, err := ca.Rotate(ctx)
	require.NoError(t, err)
	assert.Equal(t, int32(2), g)
	putSSN(t, a, "p", 2)
	time.Sleep(time.Second + 100*time.Millisecond)
	putSSN(t, b, "q", 1)
	g, err = cb.Rotate(ctx)
	require.NoError(t, err)
	assert.Equal(t, int32(3), g)
	putSSN(t, b, "p", 3)
	v3, err := a.VRead(ctx, storage.Key{Type: "Patient", ID: "p"}, 3)
	require.NoError(t, err, "the first server opens a generation it has not seen yet")
	assert.Contains(t, string(v3.Resource), "123-45-0003")

	assert.Equal(t, [][]int32{{1}, {2}, {3}}, sealedGenerations(t, url, "Patient", "p"), "the SSN and the address alike")
	assert.Equal(t, [][]int32{{2}}, sealedGenerations(t, url, "Patient", "q"), "the other server within a second")
	for _, s := range []*storage.Store{a, b} {
		for v := int64(1); v <= 3; v++ {
			got, err := s.VRead(ctx, storage.Key{Type: "Patient", ID: "p"}, v)
			require.NoError(t, err)
			assert.Contains(t, string(got.Resource), fmt.Sprintf(`"123-45-%04d"`, v))
			assert.Contains(t, string(got.Resource), fmt.Sprintf(`"Town 123-45-%04d"`, v))
		}
	}
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT ARRAY[actor, target] FROM admin_audit WHERE action = 'data-key.rotate' ORDER BY id`)
	require.NoError(t, err)
	audited, err := pgx.CollectRows(rows, pgx.RowTo[[]string])
	require.NoError(t, err)
	assert.Equal(t, [][]string{{"cli:operator", "data-key:field encryption:2"}, {"cli:operator", "data-key:field encryption:3"}}, audited)
}

// keys rewrap moves every generation of the data key, not the newest
// alone: under the new key-encryption key alone, every version opens.
func TestRewrapMovesEveryDataKeyGeneration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, url := storagetest.Open(t)
	from, to := localKeys(t), localKeys(t)
	c := withFieldKeys(t, s, from)
	for v := int64(1); v <= 3; v++ {
		if v > 1 {
			_, err := c.Rotate(ctx)
			require.NoError(t, err)
		}
		putSSN(t, s, "p", v)
	}
	require.NoError(t, keys.New(s).Rewrap(ctx, from, to))

	moved, err := storage.Open(ctx, url, storage.Options{}, nil)
	require.NoError(t, err)
	t.Cleanup(moved.Close)
	withFieldKeys(t, moved, to)
	for v := int64(1); v <= 3; v++ {
		got, err := moved.VRead(ctx, storage.Key{Type: "Patient", ID: "p"}, v)
		require.NoError(t, err, "version %d", v)
		assert.Contains(t, string(got.Resource), fmt.Sprintf(`"123-45-%04d"`, v))
	}
	putSSN(t, moved, "p", 4)
	assert.Equal(t, []int32{3}, sealedGenerations(t, url, "Patient", "p")[3], "the newest generation still seals")
}
