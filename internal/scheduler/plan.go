package scheduler

import (
	"time"

	"github.com/robfig/cron/v3"
)

// Plan is the input of NextRefresh: everything the schedule depends on, so the
// maths stays a pure function with table tests.
type Plan struct {
	Now           time.Time
	IssuedAt      time.Time     // when the current access token was obtained (zero: unknown)
	ExpiresAt     time.Time     // zero: the provider gave no expiry
	RefreshBefore time.Duration // 0: refresh when about a third of the lifetime is left
	Schedule      cron.Schedule // optional fixed schedule; the earlier time wins
	Jitter        float64       // in [0,1); spreads refreshes of many credentials
	// MinDelay is the shortest time to the next refresh: a provider that
	// announces a tiny or already-past expiry (clock skew) must not turn into
	// a refresh loop.
	MinDelay time.Duration
	// RefreshTokenExpiresAt is when the refresh token dies (zero: unknown or
	// never), RefreshTokenIssuedAt when that life began (zero: unknown);
	// see KeepAlive.
	RefreshTokenExpiresAt time.Time
	RefreshTokenIssuedAt  time.Time
}

// KeepAliveWindow is how long before the refresh token's expiry a
// credential is refreshed at the latest (keep-alive) and warned about:
// 7 days, or a quarter of the refresh token's life when that is shorter.
const KeepAliveWindow = 7 * 24 * time.Hour

// RefreshTokenWindow is KeepAliveWindow for a refresh token living from
// issued (zero: unknown, the full window) to rtExp.
func RefreshTokenWindow(issued, rtExp time.Time) time.Duration {
	w := KeepAliveWindow
	if !issued.IsZero() && issued.Before(rtExp) {
		w = min(w, rtExp.Sub(issued)/4)
	}
	return w
}

// KeepAlive returns when an otherwise idle credential must be refreshed so
// that its refresh token does not die unused (GitHub's rotating 6-month
// refresh tokens, Intuit's x_refresh_token_expires_in): RefreshTokenWindow
// before RefreshTokenExpiresAt. ok is false when there is no refresh-token
// expiry, or when the current access token (IssuedAt) was already obtained
// inside that window: the last refresh did not extend the refresh token,
// refreshing again would not either, and must not loop.
func KeepAlive(p Plan) (at time.Time, ok bool) {
	if p.RefreshTokenExpiresAt.IsZero() {
		return time.Time{}, false
	}
	at = p.RefreshTokenExpiresAt.Add(-RefreshTokenWindow(p.RefreshTokenIssuedAt, p.RefreshTokenExpiresAt))
	if !p.IssuedAt.IsZero() && !p.IssuedAt.Before(at) {
		return time.Time{}, false
	}
	return at, true
}

// NextRefresh returns when the credential should be refreshed next, or the
// zero time when nothing calls for a refresh (no expiry and no schedule).
//
// Without refresh_before the refresh happens when a third of the lifetime is
// left, moved earlier by up to a twelfth of the lifetime of jitter (so between
// about 58% and 67% of the lifetime; cf. smallstep's renewal at 2/3). With
// refresh_before the refresh happens that long before expiry, moved earlier
// by up to a tenth of the window (at most a minute). A refresh is never
// planned before a quarter of the lifetime has passed, so a window longer
// than the lifetime cannot turn into a refresh loop. The keep-alive point
// (KeepAlive) wins when it is earlier, also for a credential with no expiry
// and no schedule.
func NextRefresh(p Plan) time.Time {
	var at time.Time
	if !p.ExpiresAt.IsZero() {
		issued := p.IssuedAt
		if issued.IsZero() || !issued.Before(p.ExpiresAt) {
			issued = p.Now
		}
		lifetime := p.ExpiresAt.Sub(issued)
		if lifetime < 0 {
			lifetime = 0
		}
		var window, spread time.Duration
		if p.RefreshBefore > 0 {
			window = p.RefreshBefore
			spread = min(window/10, time.Minute)
		} else {
			window = lifetime / 3
			spread = lifetime / 12
		}
		at = p.ExpiresAt.Add(-window - time.Duration(p.Jitter*float64(spread)))
		if floor := issued.Add(lifetime / 4); at.Before(floor) {
			at = floor
		}
	}
	if p.Schedule != nil {
		if next := p.Schedule.Next(p.Now); !next.IsZero() && (at.IsZero() || next.Before(at)) {
			at = next
		}
	}
	if ka, ok := KeepAlive(p); ok && (at.IsZero() || ka.Before(at)) {
		at = ka
	}
	if !at.IsZero() && at.Before(p.Now.Add(p.MinDelay)) {
		at = p.Now.Add(p.MinDelay)
	}
	return at
}

// Backoff is the one retry policy of tokend: exponential with jitter.
type Backoff struct {
	Min time.Duration // first delay; also the floor of every delay (no hot loop)
	Max time.Duration // cap of the exponential growth
}

// DefaultBackoff is used when Options.Backoff is zero.
var DefaultBackoff = Backoff{Min: 2 * time.Second, Max: 5 * time.Minute}

// Delay returns how long to wait before retry number attempt (1 for the first
// retry). The exponential delay d = Min·2^(attempt-1), capped at Max, is
// jittered into [d/2, d]. While the token is still valid the delay is capped
// at half its remaining life (never below Min) so retries speed up as expiry
// nears instead of sleeping past it. A server's Retry-After is honoured even
// when it is longer; pastExpiry then reports that the wait ends after the
// token has expired, which the caller logs as an error.
func (b Backoff) Delay(attempt int, jitter float64, retryAfter time.Duration, now, expiresAt time.Time) (d time.Duration, pastExpiry bool) {
	if attempt < 1 {
		attempt = 1
	}
	d = b.Min
	for i := 1; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	d = d/2 + time.Duration(jitter*float64(d/2))
	if !expiresAt.IsZero() && expiresAt.After(now) {
		if half := expiresAt.Sub(now) / 2; d > half {
			d = half
		}
	}
	d = max(d, b.Min)
	if retryAfter > d {
		d = retryAfter
	}
	pastExpiry = !expiresAt.IsZero() && now.Add(d).After(expiresAt)
	return d, pastExpiry
}
