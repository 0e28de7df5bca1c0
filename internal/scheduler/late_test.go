package scheduler

import (
	"encoding/json"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestRefreshedLogCarriesPlannedTimeAndLateness checks the fields that
// tokend-bench uses to measure timeliness: each "refreshed" line names the
// time the refresh was planned for (the previous line's next_refresh) and how
// late the token endpoint call started.
func TestRefreshedLogCarriesPlannedTimeAndLateness(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 30*time.Second, nil)
		h.start()
		time.Sleep(time.Minute)
		synctest.Wait()
		h.stop()
		type line struct {
			Msg         string `json:"msg"`
			NextRefresh any    `json:"next_refresh"`
			PlannedAt   any    `json:"planned_at"`
			Late        any    `json:"late"` // seconds in the test encoder
		}
		var got []line
		for _, l := range strings.Split(strings.TrimSpace(h.logs.String()), "\n") {
			var ln line
			if err := json.Unmarshal([]byte(l), &ln); err != nil {
				t.Fatalf("log line is not JSON: %v", err)
			}
			if ln.Msg == "refreshed" {
				got = append(got, ln)
			}
		}
		if len(got) < 3 {
			t.Fatalf("%d refreshed lines in a minute of a 30s token; want >= 3", len(got))
		}
		for i, ln := range got {
			// synctest: no time passes while the worker runs, so lateness is exactly 0.
			if ln.PlannedAt == nil || ln.Late != float64(0) {
				t.Fatalf("refreshed line %d: planned_at %v late %v; want a time and 0", i, ln.PlannedAt, ln.Late)
			}
			if i > 0 && ln.PlannedAt != got[i-1].NextRefresh {
				t.Fatalf("refreshed line %d planned_at %v; want the previous next_refresh %v", i, ln.PlannedAt, got[i-1].NextRefresh)
			}
		}
	})
}
