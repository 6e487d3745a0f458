package scheduling

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	schedstore "github.com/fhirserver/fhirserver/storage/scheduling"
)

func TestWeights(t *testing.T) {
	w, err := ParseWeights("urgency=5, wait-per-day=2,distance-per-km=0")
	require.NoError(t, err)
	assert.Equal(t, Weights{Urgency: 5, WaitPerDay: 2, DistancePerKm: 0}, w)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	score, inputs := w.score(schedstore.WaitlistEntry{Urgency: 3, DistanceKm: 12, Joined: now.Add(-36 * time.Hour)}, now)
	assert.Equal(t, 18.0, score, "5×3 + 2×1.5 − 0×12")
	assert.JSONEq(t, `{"urgency":3,"waitedDays":1.5,"distanceKm":12,"weights":{"Urgency":5,"WaitPerDay":2,"DistancePerKm":0}}`, string(inputs))
	for _, bad := range []string{"urgency", "speed=1", "urgency=-1", "urgency=x"} {
		_, err := ParseWeights(bad)
		assert.Error(t, err, bad)
	}
	d, err := ParseWeights("")
	require.NoError(t, err)
	assert.Equal(t, DefaultWeights, d)
}
