package fhirserver_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Many clients read-modify-write one resource with If-Match. Each adds its
// own identifier and retries on 412; at the end every addition is there:
// no update was lost.
func TestIfMatchLosesNoUpdate(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ts.do("PUT", "/Patient/shared", fhirJSON, `{"resourceType":"Patient","id":"shared","identifier":[{"system":"urn:w","value":"start"}]}`)
	const clients, each = 8, 5
	var wg sync.WaitGroup
	var mu sync.Mutex
	conflicts := 0
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				for {
					cur := ts.do("GET", "/Patient/shared", "", "")
					var p map[string]any
					if json.Unmarshal(cur.Body, &p) != nil {
						t.Error("bad read")
						return
					}
					p["identifier"] = append(p["identifier"].([]any), map[string]any{"system": "urn:w", "value": fmt.Sprintf("%d-%d", c, i)})
					body, _ := json.Marshal(p)
					r := ts.do("PUT", "/Patient/shared", fhirJSON, string(body), "If-Match", cur.Header.Get("ETag"))
					if r.Status == 200 {
						break
					}
					if r.Status != 412 {
						t.Errorf("unexpected %d: %s", r.Status, r.Body)
						return
					}
					mu.Lock()
					conflicts++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	final := ts.do("GET", "/Patient/shared", "", "")
	require.Equal(t, 200, final.Status)
	ids := final.json(t)["identifier"].([]any)
	assert.Len(t, ids, 1+clients*each, "every update is in the final version")
	assert.Equal(t, fmt.Sprintf(`W/"%d"`, 1+clients*each), final.Header.Get("ETag"))
	t.Logf("%d conflicts were refused with 412 and retried", conflicts)
}
