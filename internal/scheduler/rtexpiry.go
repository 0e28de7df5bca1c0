package scheduler

import (
	"time"

	"go.uber.org/zap"
)

// warnRefreshTokenLocked warns, once per refresh-token expiry, that the
// refresh token will die and refreshing did not extend it: less than
// RefreshTokenWindow is left and the current token was obtained inside that
// window (so the keep-alive refresh, KeepAlive, has run and the provider
// kept the old expiry). An operator must re-authorize before then. A
// refresh token that rotates with a fresh expiry never gets here.
func (s *Scheduler) warnRefreshTokenLocked(e *entry, now time.Time) {
	rtExp := e.rec.RefreshTokenExpiresAt
	if rtExp.IsZero() || rtExp.Equal(e.rtWarned) {
		return
	}
	p := Plan{Now: now, IssuedAt: e.rec.IssuedAt, RefreshTokenExpiresAt: rtExp, RefreshTokenIssuedAt: e.rec.RefreshTokenIssuedAt}
	if _, pending := KeepAlive(p); pending || rtExp.Sub(now) > RefreshTokenWindow(e.rec.RefreshTokenIssuedAt, rtExp) {
		return
	}
	e.rtWarned = rtExp
	fields := []zap.Field{zap.Time("refresh_token_expires_at", rtExp), zap.Duration("left", max(rtExp.Sub(now), 0))}
	if !rtExp.After(now) {
		e.log.Error("the refresh token has expired: run tokend authorize (or import) for this credential", fields...)
		return
	}
	e.log.Warn("the refresh token expires soon and refreshing did not extend it: run tokend authorize (or import) for this credential before then", fields...)
}
