package fhirserver_test

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkBooking is 1,000 concurrent $book requests on 100 slots of
// capacity 1 (ten clients per slot): it reports successes (goal: exactly
// 100), conflicts, requests/s and bookings/s (goal: 500), and p99. Run with
// make bench-scheduling.
func BenchmarkBooking(b *testing.B) {
	ts := newServerWith(b, time.Hour, nil)
	ts.put("Practitioner", "dr1", `{"resourceType":"Practitioner","id":"dr1"}`)
	ts.put("Patient", "p1", `{"resourceType":"Patient","id":"p1"}`)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1000, MaxConnsPerHost: 0}}
	for range b.N {
		b.StopTimer()
		// A new practitioner each round: 100 fresh slots.
		dr := fmt.Sprintf("dr%d", time.Now().UnixNano())
		ts.put("Practitioner", dr, `{"resourceType":"Practitioner","id":"`+dr+`"}`)
		if r := ts.do("POST", "/Practitioner/"+dr+"/$availability", fhirJSON, availabilityBody("08:00", "20:00", 30, 1, "FOLLOWUP")); r.Status != 200 {
			b.Fatalf("%d %s", r.Status, r.Body)
		}
		slots := freeSlots(b, ts, "practitioner="+dr+"&_count=100")
		if len(slots) < 100 {
			b.Fatalf("%d slots", len(slots))
		}
		b.StartTimer()
		lat, status, elapsed := fireBookings(b, ts, client, func(i int) string { return bookBody(slots[i%100]) })
		b.StopTimer()
		counts := map[int]int{}
		for _, s := range status {
			counts[s]++
		}
		b.Logf("1,000 $book on 100 slots: %d booked (201), %d conflicts (409), other %v; %.0f requests/s, %.0f bookings/s; p50 %.1f ms, p99 %.1f ms",
			counts[201], counts[409], otherStatuses(counts), 1000/elapsed.Seconds(), float64(counts[201])/elapsed.Seconds(), ms(percentile(lat, 50)), ms(percentile(lat, 99)))
		b.ReportMetric(float64(counts[201]), "booked")
		b.ReportMetric(float64(counts[409]), "conflicts")
		b.ReportMetric(1000/elapsed.Seconds(), "requests/s")
		b.ReportMetric(ms(percentile(lat, 99)), "p99-ms")
		bookingsPerSecond(b, ts, client)
		b.StartTimer()
	}
}

// bookingsPerSecond is 1,000 concurrent $book on 1,000 free slots: every
// one books, and the rate is of bookings made.
func bookingsPerSecond(b *testing.B, ts *testServer, client *http.Client) {
	var slots []string
	for i := 0; len(slots) < 1000; i++ {
		dr := fmt.Sprintf("many%d-%d", i, time.Now().UnixNano())
		ts.put("Practitioner", dr, `{"resourceType":"Practitioner","id":"`+dr+`"}`)
		if r := ts.do("POST", "/Practitioner/"+dr+"/$availability", fhirJSON, availabilityBody("00:00", "23:30", 30, 1, "FOLLOWUP")); r.Status != 200 {
			b.Fatalf("%d %s", r.Status, r.Body)
		}
		slots = append(slots, freeSlots(b, ts, "practitioner="+dr+"&_count=1000")...)
	}
	lat, status, elapsed := fireBookings(b, ts, client, func(i int) string { return bookBody(slots[i]) })
	booked := 0
	for _, s := range status {
		if s == 201 {
			booked++
		}
	}
	b.Logf("1,000 $book on 1,000 free slots: %d booked in %s: %.0f bookings/s (goal 500); p50 %.1f ms, p99 %.1f ms",
		booked, elapsed.Round(time.Millisecond), float64(booked)/elapsed.Seconds(), ms(percentile(lat, 50)), ms(percentile(lat, 99)))
	b.ReportMetric(float64(booked)/elapsed.Seconds(), "bookings/s")
}

// fireBookings sends 1,000 $book requests at once, the i-th with
// bodyOf(i), and returns each one's latency and status and the time all
// took.
func fireBookings(b *testing.B, ts *testServer, client *http.Client, bodyOf func(i int) string) ([]time.Duration, []int, time.Duration) {
	lat := make([]time.Duration, 1000)
	status := make([]int, 1000)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", ts.URL+"/Appointment/$book", strings.NewReader(bodyOf(i)))
			req.Header.Set("Authorization", "Bearer "+ts.token)
			req.Header.Set("Content-Type", fhirJSON)
			t0 := time.Now()
			resp, err := client.Do(req)
			lat[i] = time.Since(t0)
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			status[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	return lat, status, time.Since(start)
}

func otherStatuses(counts map[int]int) map[int]int {
	out := map[int]int{}
	for s, n := range counts {
		if s != 201 && s != 409 {
			out[s] = n
		}
	}
	return out
}

// BenchmarkFind is $find over a month of slots for 200 practitioners
// (BENCH_FIND_PRACTITIONERS): one practitioner's free slots of one day, at
// concurrency 1 and 16; p50 and p99.
func BenchmarkFind(b *testing.B) {
	ts := newServerWith(b, time.Hour, nil)
	practitioners := 200
	if n, err := fmt.Sscan(envOr("BENCH_FIND_PRACTITIONERS", "200"), &practitioners); n != 1 || err != nil {
		b.Fatal("BENCH_FIND_PRACTITIONERS")
	}
	start := time.Now()
	for i := range practitioners {
		dr := fmt.Sprintf("dr%d", i)
		ts.put("Practitioner", dr, `{"resourceType":"Practitioner","id":"`+dr+`"}`)
		if r := ts.do("POST", "/Practitioner/"+dr+"/$availability", fhirJSON, availabilityBody("09:00", "17:00", 30, 1, "FOLLOWUP")); r.Status != 200 {
			b.Fatalf("%d %s", r.Status, r.Body)
		}
	}
	b.Logf("%d practitioners' slots materialized in %s", practitioners, time.Since(start).Round(time.Second))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	day := time.Now().UTC().AddDate(0, 0, 7).Format("2006-01-02")
	next := time.Now().UTC().AddDate(0, 0, 8).Format("2006-01-02")
	b.ResetTimer()
	for range b.N {
		for _, conc := range []int{1, 16} {
			lat := make([]time.Duration, 0, 500)
			var mu sync.Mutex
			var wg sync.WaitGroup
			work := make(chan int, 500)
			for i := range 500 {
				work <- i
			}
			close(work)
			for range conc {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range work {
						req, _ := http.NewRequest("GET", ts.URL+fmt.Sprintf("/Appointment/$find?practitioner=dr%d&start=%s&end=%s", i%practitioners, day, next), nil)
						req.Header.Set("Authorization", "Bearer "+ts.token)
						t0 := time.Now()
						resp, err := client.Do(req)
						d := time.Since(t0)
						if err != nil || resp.StatusCode != 200 {
							b.Errorf("%v %v", err, resp)
							return
						}
						resp.Body.Close()
						mu.Lock()
						lat = append(lat, d)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			b.Logf("$find, one practitioner's day among %d practitioners' month, c=%d: p50 %.1f ms, p99 %.1f ms", practitioners, conc, ms(percentile(lat, 50)), ms(percentile(lat, 99)))
			b.ReportMetric(ms(percentile(lat, 99)), fmt.Sprintf("p99-ms-c%d", conc))
		}
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
