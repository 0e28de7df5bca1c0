package scheduler

import (
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

func TestNextRefresh(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	every6h, _ := cron.ParseStandard("@every 6h")
	daily3, _ := cron.ParseStandard("0 3 * * *")
	cases := []struct {
		name string
		p    Plan
		want time.Time
	}{
		{"third of an hour left, no jitter", Plan{Now: t0, IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}, t0.Add(40 * time.Minute)},
		{"half jitter moves a 24th earlier", Plan{Now: t0, IssuedAt: t0, ExpiresAt: t0.Add(time.Hour), Jitter: 0.5}, t0.Add(37*time.Minute + 30*time.Second)},
		{"refresh_before", Plan{Now: t0, IssuedAt: t0, ExpiresAt: t0.Add(time.Hour), RefreshBefore: 10 * time.Minute}, t0.Add(50 * time.Minute)},
		{"refresh_before jitter capped at a minute", Plan{Now: t0, IssuedAt: t0, ExpiresAt: t0.Add(7 * 24 * time.Hour), RefreshBefore: 24 * time.Hour, Jitter: 0.5}, t0.Add(6*24*time.Hour - 30*time.Second)},
		{"window longer than lifetime floors at a quarter", Plan{Now: t0, IssuedAt: t0, ExpiresAt: t0.Add(time.Hour), RefreshBefore: 2 * time.Hour}, t0.Add(15 * time.Minute)},
		{"already due is now", Plan{Now: t0.Add(50 * time.Minute), IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}, t0.Add(50 * time.Minute)},
		{"expired is now", Plan{Now: t0.Add(2 * time.Hour), IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}, t0.Add(2 * time.Hour)},
		{"min delay floors a too-short lifetime", Plan{Now: t0, IssuedAt: t0, ExpiresAt: t0.Add(time.Second), MinDelay: 5 * time.Second}, t0.Add(5 * time.Second)},
		{"min delay floors a token that looks expired (clock skew)", Plan{Now: t0, IssuedAt: t0.Add(-time.Hour), ExpiresAt: t0.Add(-time.Minute), MinDelay: 5 * time.Second}, t0.Add(5 * time.Second)},
		{"unknown issue time uses now", Plan{Now: t0, ExpiresAt: t0.Add(30 * time.Minute)}, t0.Add(20 * time.Minute)},
		{"no expiry, no schedule: never", Plan{Now: t0}, time.Time{}},
		{"no expiry, schedule", Plan{Now: t0, Schedule: every6h}, t0.Add(6 * time.Hour)},
		{"schedule earlier than expiry window wins", Plan{Now: t0, IssuedAt: t0, ExpiresAt: t0.Add(7 * 24 * time.Hour), Schedule: daily3}, time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)},
		{"expiry window earlier than schedule wins", Plan{Now: t0, IssuedAt: t0, ExpiresAt: t0.Add(time.Hour), Schedule: every6h}, t0.Add(40 * time.Minute)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := NextRefresh(c.p); !got.Equal(c.want) {
				t.Fatalf("NextRefresh = %v, want %v", got, c.want)
			}
		})
	}
}

func TestNextRefreshJitterSpread(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lo, hi := t0.Add(35*time.Minute), t0.Add(40*time.Minute)
	for j := 0.0; j < 1; j += 0.01 {
		got := NextRefresh(Plan{Now: t0, IssuedAt: t0, ExpiresAt: t0.Add(time.Hour), Jitter: j})
		if got.Before(lo) || got.After(hi) {
			t.Fatalf("jitter %.2f: %v outside [%v, %v]", j, got, lo, hi)
		}
	}
}

func TestBackoffDelay(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := Backoff{Min: 2 * time.Second, Max: time.Minute}
	cases := []struct {
		name       string
		attempt    int
		jitter     float64
		retryAfter time.Duration
		expires    time.Time
		want       time.Duration
		pastExpiry bool
	}{
		{"first, no jitter", 1, 0, 0, time.Time{}, 2 * time.Second, false},
		{"first, full jitter", 1, 1, 0, time.Time{}, 2 * time.Second, false},
		{"third, full jitter", 3, 1, 0, time.Time{}, 8 * time.Second, false},
		{"third, no jitter halves", 3, 0, 0, time.Time{}, 4 * time.Second, false},
		{"capped at max", 30, 1, 0, time.Time{}, time.Minute, false},
		{"capped at half the remaining life", 10, 1, 0, t0.Add(20 * time.Second), 10 * time.Second, false},
		{"never below min near expiry", 10, 1, 0, t0.Add(time.Second), 2 * time.Second, true},
		{"retry-after honoured", 1, 0, 45 * time.Second, time.Time{}, 45 * time.Second, false},
		{"retry-after past expiry flagged", 1, 0, 45 * time.Second, t0.Add(30 * time.Second), 45 * time.Second, true},
		{"already expired", 2, 1, 0, t0.Add(-time.Minute), 4 * time.Second, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, past := b.Delay(c.attempt, c.jitter, c.retryAfter, t0, c.expires)
			if d != c.want || past != c.pastExpiry {
				t.Fatalf("Delay = %v, %v; want %v, %v", d, past, c.want, c.pastExpiry)
			}
		})
	}
}

func TestBackoffBoundsAttemptsPerMinute(t *testing.T) {
	b := DefaultBackoff
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now, n := t0, 0
	for now.Before(t0.Add(time.Minute)) {
		n++
		d, _ := b.Delay(n, 0, 0, now, time.Time{})
		now = now.Add(d)
	}
	if n > 8 {
		t.Fatalf("%d attempts in the first minute of an outage; want at most 8", n)
	}
}
