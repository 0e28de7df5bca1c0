package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/state"
)

// guessingSource is a provider that sends no expires_in: grants sets the
// expiry from default_lifetime and says so in ExpirySource.
type guessingSource struct{ *strictSource }

func (g guessingSource) Renew(ctx context.Context, rt secret.Secret) (grants.Token, error) {
	tok, err := g.strictSource.Renew(ctx, rt)
	tok.ExpirySource = expiryGuessed
	return tok, err
}

// TestGuessedExpiryIsMarked (issue 14 item 6): an expiry that
// default_lifetime guessed is marked in the status and the log line.
func TestGuessedExpiryIsMarked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, time.Hour, func(c *Credential, _ *Options) { c.Source = guessingSource{c.Source.(*strictSource)} })
		h.start()
		time.Sleep(time.Second)
		synctest.Wait()
		h.stop()
		st := h.status()
		if st.Status != state.StatusOK || !st.ExpiresGuessed || st.ExpiresAt.IsZero() {
			t.Fatalf("status %+v: want ok with a guessed expiry", st)
		}
		js, _ := json.Marshal(st)
		if !strings.Contains(string(js), `"expires_at_guessed":true`) {
			t.Errorf("status JSON: %s", js)
		}
		if !strings.Contains(h.logs.String(), `"expires_at_guessed":true`) {
			t.Errorf("refreshed line does not mark the guess:\n%s", h.logs.String())
		}
	})
	synctest.Test(t, func(t *testing.T) { // a provider's expires_in is not a guess
		h := newHarness(t, time.Hour, nil)
		h.start()
		time.Sleep(time.Second)
		synctest.Wait()
		h.stop()
		js, _ := json.Marshal(h.status())
		if h.status().ExpiresGuessed || strings.Contains(string(js), "guessed") || strings.Contains(h.logs.String(), "guessed") {
			t.Errorf("expires_in marked as guessed: %s", js)
		}
	})
}

// TestOperatorViewHasCauseAndNoZeroTimes (issue 14 item 6): a network
// failure's last error is its cause (not `credential "x": token endpoint:
// network: ...` again), and unknown times (a needs_reauth credential's next
// refresh) are left out of log lines and the status JSON.
func TestOperatorViewHasCauseAndNoZeroTimes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, time.Hour, nil)
		cause := `Post "https://idp.example/token": dial tcp 10.0.0.7:443: connect: connection refused`
		h.src.fail(&grants.Error{Credential: "cred", Code: grants.CodeNetwork, Class: grants.ClassTransient, Err: errors.New(cause)})
		h.start()
		time.Sleep(time.Millisecond)
		synctest.Wait()
		st := h.status()
		if st.LastError == nil || st.LastError.Code != grants.CodeNetwork || st.LastError.Description != cause {
			t.Fatalf("last error %+v, want code network and the cause alone", st.LastError)
		}
		h.stop()
	})
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, time.Hour, nil)
		h.src.fail(&grants.Error{Credential: "cred", Status: 400, Code: "invalid_grant", Class: grants.ClassPermanent})
		h.start()
		time.Sleep(time.Second)
		synctest.Wait()
		h.stop()
		st := h.status()
		if st.Status != state.StatusNeedsReauth || st.LastError.Description != "HTTP 400" {
			t.Fatalf("status %+v", st)
		}
		for _, line := range strings.Split(strings.TrimSpace(h.logs.String()), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"next_refresh", "expires_at"} {
				if v, ok := m[k]; ok && v.(float64) < 0 { // the test encoder writes epoch seconds
					t.Errorf("%s logged for an unknown time: %s", k, line)
				}
			}
		}
		js, _ := json.Marshal(st)
		if strings.Contains(string(js), "0001-01-01") {
			t.Errorf("status JSON has a zero time: %s", js)
		}
	})
}
