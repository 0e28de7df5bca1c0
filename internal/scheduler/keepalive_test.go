package scheduler

import (
	"testing"
	"time"
)

// TestKeepAlive: the refresh token's expiry pulls the next refresh earlier
// (GitHub: 8-hour access tokens, 6-month refresh tokens; a credential with
// no access-token expiry at all), and never into a loop.
func TestKeepAlive(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	cases := []struct {
		name string
		p    Plan
		want time.Time
	}{
		{"GitHub: 8 h access token wins over a 6-month refresh token",
			Plan{Now: t0, IssuedAt: t0, ExpiresAt: t0.Add(8 * time.Hour), RefreshTokenExpiresAt: t0.Add(183 * day), RefreshTokenIssuedAt: t0}, t0.Add(8 * time.Hour * 2 / 3)},
		{"idle: no expiry, no schedule, refresh token dies in 60 days: 7 days before",
			Plan{Now: t0, IssuedAt: t0, RefreshTokenExpiresAt: t0.Add(60 * day), RefreshTokenIssuedAt: t0}, t0.Add(53 * day)},
		{"long access token: keep-alive earlier wins",
			Plan{Now: t0, IssuedAt: t0, ExpiresAt: t0.Add(365 * day), RefreshTokenExpiresAt: t0.Add(30 * day)}, t0.Add(23 * day)},
		{"short refresh-token life: a quarter of it",
			Plan{Now: t0, IssuedAt: t0, RefreshTokenExpiresAt: t0.Add(24 * time.Hour), RefreshTokenIssuedAt: t0}, t0.Add(18 * time.Hour)},
		{"short life, not extended by the keep-alive refresh: no second one (no Zeno loop)",
			Plan{Now: t0.Add(18 * time.Hour), IssuedAt: t0.Add(18 * time.Hour), RefreshTokenExpiresAt: t0.Add(24 * time.Hour), RefreshTokenIssuedAt: t0}, time.Time{}},
		{"window already entered, token older: refresh now (min delay)",
			Plan{Now: t0, IssuedAt: t0.Add(-90 * day), RefreshTokenExpiresAt: t0.Add(3 * day), MinDelay: time.Second}, t0.Add(time.Second)},
		{"unknown issue time inside the window: refresh now",
			Plan{Now: t0, RefreshTokenExpiresAt: t0.Add(3 * day), MinDelay: time.Second}, t0.Add(time.Second)},
		{"refreshed inside the window without extension: no loop, access-token plan stands",
			Plan{Now: t0, IssuedAt: t0, ExpiresAt: t0.Add(time.Hour), RefreshTokenExpiresAt: t0.Add(3 * day)}, t0.Add(40 * time.Minute)},
		{"refreshed inside the window, no access-token expiry: nothing more to do",
			Plan{Now: t0, IssuedAt: t0, RefreshTokenExpiresAt: t0.Add(3 * day)}, time.Time{}},
		{"no refresh-token expiry: unchanged",
			Plan{Now: t0, IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}, t0.Add(40 * time.Minute)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := NextRefresh(c.p); !got.Equal(c.want) {
				t.Fatalf("NextRefresh = %v, want %v", got, c.want)
			}
		})
	}
}
