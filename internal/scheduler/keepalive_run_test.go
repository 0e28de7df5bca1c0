package scheduler

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/secret"
)

// rtExpirySource wraps strictSource: every answer states the refresh
// token's expiry (life after the call, or a fixed instant) and an id_token.
type rtExpirySource struct {
	*strictSource
	life  time.Duration // > 0: expires life after the answer
	fixed time.Time     // else: this instant (a refresh token that is not extended)
}

func (s *rtExpirySource) Renew(ctx context.Context, rt secret.Secret) (grants.Token, error) {
	tok, err := s.strictSource.Renew(ctx, rt)
	if err != nil {
		return tok, err
	}
	tok.RefreshTokenExpiresAt = s.fixed
	if s.life > 0 {
		tok.RefreshTokenExpiresAt = tok.IssuedAt.Add(s.life)
	}
	tok.Extra = map[string]secret.Secret{"id_token": secret.New("idtok-secretvalue")}
	return tok, nil
}

// TestKeepAliveRefreshesIdleCredential: a year-long access token with a
// 30-day rotating refresh token is refreshed 7 days before the refresh token
// dies, not after 8 months; the expiry shows in status, the kept field in
// the sinks, and neither the id_token nor a token appears in the logs.
func TestKeepAliveRefreshesIdleCredential(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		day := 24 * time.Hour
		var src *rtExpirySource
		h := newHarness(t, 365*day, func(c *Credential, o *Options) {
			src = &rtExpirySource{strictSource: newStrictSource(365*day, "rt-0-secretvalue"), life: 30 * day}
			c.Source = src
		})
		start := time.Now()
		h.start()
		time.Sleep(time.Second)
		synctest.Wait()
		st := h.status()
		if want := start.Add(30 * day); st.RefreshTokenExpiresAt.Sub(want).Abs() > time.Minute || st.NextRefresh.Sub(start.Add(23*day)).Abs() > time.Minute {
			t.Fatalf("after the first refresh: rt expires %v (want ~%v), next refresh %v (want ~23 days)", st.RefreshTokenExpiresAt, want, st.NextRefresh)
		}
		if got := h.sink.last().Extra["id_token"]; got != "idtok-secretvalue" {
			t.Fatalf("sink Extra = %v", h.sink.last().Extra)
		}
		time.Sleep(23*day + time.Hour)
		synctest.Wait()
		if n, reuses, _ := src.stats(); n != 2 || reuses != 0 {
			t.Fatalf("after 23 days: %d refreshes (%d reuses), want the keep-alive refresh", n, reuses)
		}
		if st := h.status(); st.RefreshTokenExpiresAt.Before(start.Add(52 * day)) {
			t.Fatalf("the keep-alive refresh did not extend the refresh token: %v", st.RefreshTokenExpiresAt)
		}
		h.stop()
		logs := h.logs.String()
		if strings.Contains(logs, "idtok-secretvalue") || strings.Contains(logs, "rt-1-secretvalue") || strings.Contains(logs, "expires soon") {
			t.Fatalf("logs leak a kept field or token, or warn without cause:\n%s", logs)
		}
	})
}

// TestRefreshTokenNotExtendedWarnsOnce: a provider that keeps the refresh
// token's fixed expiry gets one keep-alive refresh, then no loop, and one
// warning naming the expiry.
func TestRefreshTokenNotExtendedWarnsOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		day := 24 * time.Hour
		var src *rtExpirySource
		start := time.Now()
		h := newHarness(t, 365*day, func(c *Credential, o *Options) {
			inner := newStrictSource(365*day, "rt-0-secretvalue")
			inner.noRotate = true // the same refresh token every time
			src = &rtExpirySource{strictSource: inner, fixed: start.Add(30 * day)}
			c.Source = src
		})
		h.start()
		time.Sleep(29 * day)
		synctest.Wait()
		h.stop()
		if n, _, _ := src.stats(); n != 2 {
			t.Fatalf("%d refreshes in 29 days, want 2 (the first and one keep-alive)", n)
		}
		logs := h.logs.String()
		if c := strings.Count(logs, "the refresh token expires soon and refreshing did not extend it"); c != 1 || !strings.Contains(logs, `"refresh_token_expires_at"`) {
			t.Fatalf("warning logged %d times, want 1:\n%s", c, logs)
		}
	})
}
