package scheduler

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/state"
)

// preparingSource fails Prepare a number of times (an issuer still down),
// then works like the strict source it wraps.
type preparingSource struct {
	*strictSource
	failures atomic.Int64
	prepared atomic.Int64
}

func (p *preparingSource) Prepare(ctx context.Context) error {
	p.prepared.Add(1)
	if p.failures.Add(-1) >= 0 {
		return &grants.Error{Credential: "cred", Code: "discovery_failed", Class: grants.ClassTransient, Err: errors.New("issuer unavailable")}
	}
	return nil
}

// TestPrepareFailureSpendsNothing: a source that cannot prepare (deferred
// discovery) leaves no intent behind, so the credential backs off with a
// known outcome and its refresh token is spent only once it can be sent.
func TestPrepareFailureSpendsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var src *preparingSource
		h := newHarness(t, time.Hour, func(c *Credential, o *Options) {
			src = &preparingSource{strictSource: newStrictSource(time.Hour, "rt-0-secretvalue")}
			src.failures.Store(2)
			c.Source = src
			o.Backoff = Backoff{Min: time.Second, Max: time.Second}
		})
		h.start()
		time.Sleep(500 * time.Millisecond)
		synctest.Wait()
		if st, rec := h.status(), h.store.get("cred"); st.Status != state.StatusBackoff || rec.Intent != nil || rec.LastError == nil || rec.LastError.Code != "discovery_failed" {
			t.Fatalf("after a failed prepare: status %s, intent %+v, last error %+v", st.Status, rec.Intent, rec.LastError)
		}
		if n, _, _ := src.stats(); n != 0 {
			t.Fatalf("Renew called %d times while Prepare failed", n)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		h.stop()
		if n, reuses, _ := src.stats(); n != 1 || reuses != 0 || h.status().Status != state.StatusOK {
			t.Fatalf("after the issuer came back: %d renewals, %d reuses, status %s", n, reuses, h.status().Status)
		}
		if strings.Contains(h.logs.String(), "outcome unknown") {
			t.Fatalf("a failed prepare was treated as an unknown outcome:\n%s", h.logs.String())
		}
	})
}
