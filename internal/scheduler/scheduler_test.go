package scheduler

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/syncbuf"
)

// harness runs a scheduler inside a synctest bubble.
type harness struct {
	t      *testing.T
	store  *memStore
	src    *strictSource
	sink   *recSink
	logs   *syncbuf.Buffer
	s      *Scheduler
	cancel context.CancelFunc
	done   chan error
}

func newHarness(t *testing.T, ttl time.Duration, mutate func(*Credential, *Options)) *harness {
	h := &harness{t: t, store: newMemStore(), src: newStrictSource(ttl, "rt-0-secretvalue"), logs: &syncbuf.Buffer{}}
	h.sink = &recSink{name: "a", store: h.store, t: t}
	c := Credential{Name: "cred", Grant: grants.GrantRefreshToken, Source: h.src, Sinks: []Sink{h.sink}, Seed: seed("rt-0-secretvalue")}
	o := Options{Store: h.store, Logger: newLogger(h.logs), Rand: func() float64 { return 0.5 }}
	if mutate != nil {
		mutate(&c, &o)
	}
	s, err := New(o, []Credential{c})
	if err != nil {
		t.Fatal(err)
	}
	h.s = s
	return h
}

func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- h.s.Run(ctx) }()
	h.t.Cleanup(h.stop) // also after a failed assertion, so the bubble can exit
}

func (h *harness) stop() {
	if err := h.stopErr(); err != nil {
		h.t.Errorf("Run: %v", err)
	}
}

// stopErr stops the scheduler and returns what Run returned.
func (h *harness) stopErr() error {
	if h.done == nil {
		return nil
	}
	h.cancel()
	err := <-h.done
	h.done = nil
	return err
}

func (h *harness) status() CredentialStatus { return h.s.Snapshot()[0] }

func TestRotations200NoReuse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 30*time.Second, nil)
		h.start()
		for i := 0; i < 2000; i++ {
			time.Sleep(5 * time.Second)
			if n, _, _ := h.src.stats(); n >= 200 {
				break
			}
		}
		synctest.Wait()
		h.stop()
		n, reuses, _ := h.src.stats()
		if n < 200 || reuses != 0 {
			t.Fatalf("rotations %d reuses %d; want >= 200 and 0", n, reuses)
		}
		rec := h.store.get("cred")
		if rec.Generation != uint64(n) || rec.RefreshToken.Reveal() != h.src.current || rec.Intent != nil {
			t.Fatalf("store generation %d intent %v; want %d and the provider's current token", rec.Generation, rec.Intent, n)
		}
		if h.sink.count() != n || h.sink.last().Generation != uint64(n) {
			t.Fatalf("sink writes %d last gen %d; want %d", h.sink.count(), h.sink.last().Generation, n)
		}
		for _, v := range h.src.issued {
			if strings.Contains(h.logs.String(), v) {
				t.Fatalf("a token value appears in the logs")
			}
		}
		if !strings.Contains(h.logs.String(), `"credential":"cred"`) || !strings.Contains(h.logs.String(), `"token_fp"`) {
			t.Fatalf("state-change log lines lack credential/token_fp fields:\n%s", h.logs.String()[:500])
		}
	})
}

func TestValidStoredTokenNotRefreshedAtStartup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, time.Hour, nil)
		now := time.Now()
		h.store.recs["cred"] = state.Record{Credential: "cred", RefreshToken: secret.New("rt-0-secretvalue"),
			AccessToken: secret.New("at-stored"), IssuedAt: now, ExpiresAt: now.Add(time.Hour), Generation: 7, Status: state.StatusOK}
		h.start()
		time.Sleep(30 * time.Minute)
		synctest.Wait()
		if n, _, _ := h.src.stats(); n != 0 {
			t.Fatalf("refreshed %d times within the first half of the lifetime", n)
		}
		if h.sink.count() != 1 || h.sink.last().AccessToken.Reveal() != "at-stored" {
			t.Fatalf("the stored token was not written to the sink at start-up")
		}
		time.Sleep(15 * time.Minute) // now past 2/3 of the lifetime (minus jitter)
		synctest.Wait()
		h.stop()
		if n, _, _ := h.src.stats(); n != 1 {
			t.Fatalf("refreshes = %d, want 1", n)
		}
		if g := h.store.get("cred").Generation; g != 8 {
			t.Fatalf("generation %d, want 8", g)
		}
	})
}

func TestSinkFailureKeepsNewRefreshToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, time.Hour, nil)
		h.sink.fails = 3
		h.start()
		time.Sleep(time.Second)
		synctest.Wait()
		rec := h.store.get("cred")
		if rec.Generation != 1 || rec.RefreshToken.Reveal() != "rt-1-secretvalue" {
			t.Fatalf("after a failing sink the store holds generation %d", rec.Generation)
		}
		if st := h.status(); st.Status != state.StatusOK || st.Sinks[0].OK {
			t.Fatalf("status %+v; want ok credential with a failing sink", st)
		}
		time.Sleep(2 * time.Minute) // sink retries on its own backoff
		synctest.Wait()
		h.stop()
		if h.sink.count() != 1 || h.sink.last().Generation != 1 {
			t.Fatalf("sink never caught up: %d writes", h.sink.count())
		}
		if n, _, _ := h.src.stats(); n != 1 {
			t.Fatalf("a sink failure caused %d refreshes", n)
		}
	})
}

func TestSaveFailureAfterAnswerWritesNoSinkAndRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, time.Hour, nil)
		diskFull := errors.New("no space left on device (injected)")
		h.store.setFail(func(r state.Record) error {
			if r.Intent == nil && r.Generation > 0 {
				return diskFull // the commit fails; the intent is fine
			}
			return nil
		})
		h.start()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if h.sink.count() != 0 {
			t.Fatalf("a sink was written although the refresh was not committed")
		}
		if n, _, _ := h.src.stats(); n != 1 {
			t.Fatalf("provider called %d times while the answered token was unsaved; want 1", n)
		}
		if !strings.Contains(h.logs.String(), "could not be saved") {
			t.Fatalf("operator not told about the unsaved token")
		}
		h.store.setFail(nil)
		time.Sleep(time.Minute)
		synctest.Wait()
		h.stop()
		rec := h.store.get("cred")
		if rec.Generation != 1 || rec.RefreshToken.Reveal() != "rt-1-secretvalue" {
			t.Fatalf("held token not saved after the disk recovered: gen %d", rec.Generation)
		}
		if h.sink.count() != 1 {
			t.Fatalf("sinks not written after the save succeeded")
		}
		if _, reuses, _ := h.src.stats(); reuses != 0 {
			t.Fatalf("reuse after save failure")
		}
	})
}

func TestIntentSaveFailureDoesNotSpendToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, time.Hour, nil)
		h.store.setFail(func(state.Record) error { return errors.New("read-only file system (injected)") })
		h.start()
		time.Sleep(time.Minute)
		synctest.Wait()
		if n, _, calls := h.src.stats(); n != 0 || len(calls) != 0 {
			t.Fatalf("token endpoint called %d times although the intent could not be recorded", len(calls))
		}
		if st := h.status(); st.Status != state.StatusBackoff {
			t.Fatalf("status %s, want backoff", st.Status)
		}
		h.store.setFail(nil)
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		h.stop()
		if h.store.get("cred").Generation != 1 {
			t.Fatalf("no refresh after the store recovered")
		}
	})
}

func TestRestartMidIntent(t *testing.T) {
	for _, rotated := range []bool{false, true} {
		name := map[bool]string{false: "provider never saw it", true: "provider rotated"}[rotated]
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, time.Hour, nil)
				h.store.recs["cred"] = state.Record{Credential: "cred", RefreshToken: secret.New("rt-0-secretvalue"),
					Generation: 0, Status: state.StatusRefreshing, Intent: &state.Intent{Generation: 0, StartedAt: time.Now().Add(-time.Minute)}}
				if rotated { // the crashed daemon's refresh reached the provider
					_, _ = h.src.Renew(context.Background(), secret.New("rt-0-secretvalue"))
				}
				h.start()
				time.Sleep(2 * time.Hour)
				synctest.Wait()
				h.stop()
				logs := h.logs.String()
				if !strings.Contains(logs, "refresh outcome unknown") || !strings.Contains(logs, `"credential":"cred"`) {
					t.Fatalf("restart did not report the unknown outcome by name:\n%s", logs)
				}
				_, _, calls := h.src.stats()
				st := h.status()
				if rotated {
					if st.Status != state.StatusNeedsReauth || st.LastError == nil || st.LastError.Class != "outcome_unknown" {
						t.Fatalf("status %+v; want needs_reauth with class outcome_unknown", st)
					}
					if len(calls) != 2 { // the crashed refresh + exactly one try
						t.Fatalf("%d calls; want exactly one try after restart", len(calls)-1)
					}
					if h.store.get("cred").Status != state.StatusNeedsReauth {
						t.Fatalf("needs_reauth not persisted")
					}
				} else if st.Status != state.StatusOK || h.store.get("cred").Intent != nil {
					t.Fatalf("status %+v; want ok with the intent cleared", st)
				}
			})
		})
	}
}

func TestInvalidGrantNeedsReauthWithoutRetryLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, time.Hour, nil)
		h.src.fail(&grants.Error{Credential: "cred", Status: 400, Code: "invalid_grant", Class: grants.ClassPermanent, Description: "revoked"})
		h.start()
		time.Sleep(24 * time.Hour)
		synctest.Wait()
		_, _, calls := h.src.stats()
		st := h.status()
		if len(calls) != 1 || st.Status != state.StatusNeedsReauth || !st.NextRefresh.IsZero() {
			t.Fatalf("calls %d status %s next %v; want 1 call, needs_reauth, no next refresh", len(calls), st.Status, st.NextRefresh)
		}
		if st.LastError.Code != "invalid_grant" || st.LastError.Class != "permanent" {
			t.Fatalf("last error %+v", st.LastError)
		}
		// An operator-forced refresh is still possible (after an import, say).
		if err := h.s.RefreshNow("cred"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		h.stop()
		if st := h.status(); st.Status != state.StatusOK {
			t.Fatalf("forced refresh: status %s", st.Status)
		}
	})
}

func TestRetryAfterHonoured(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, time.Hour, nil)
		h.src.fail(&grants.Error{Credential: "cred", Status: 429, Code: "http_status", Class: grants.ClassTransient, RetryAfter: 40 * time.Second})
		start := time.Now()
		h.start()
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		h.stop()
		_, _, calls := h.src.stats()
		if len(calls) != 2 {
			t.Fatalf("%d calls, want 2", len(calls))
		}
		if gap := calls[1].Sub(calls[0]); gap < 40*time.Second || calls[0].Sub(start) > time.Second {
			t.Fatalf("retry after %v; want >= 40s (Retry-After)", gap)
		}
		if !strings.Contains(h.logs.String(), `"retry_after"`) {
			t.Fatalf("Retry-After not logged")
		}
	})
}

func TestServerErrorsBackOffExponentially(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, time.Hour, nil)
		for i := 0; i < 6; i++ {
			h.src.fail(&grants.Error{Credential: "cred", Status: 503, Code: "http_status", Class: grants.ClassTransient})
		}
		h.start()
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		h.stop()
		n, _, calls := h.src.stats()
		if len(calls) != 7 || n != 1 {
			t.Fatalf("calls %d successes %d; want 6 failures then success", len(calls), n)
		}
		for i := 2; i < 6; i++ {
			if prev, cur := calls[i-1].Sub(calls[i-2]), calls[i].Sub(calls[i-1]); cur < prev {
				t.Fatalf("backoff shrank: gap %d = %v after %v", i, cur, prev)
			}
		}
		if st := h.status(); st.Status != state.StatusOK || st.Attempt != 0 {
			t.Fatalf("status after recovery %+v", st)
		}
	})
}

func TestWallClockJumpAfterSuspend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var offset time.Duration
		var mu = make(chan struct{}, 1)
		mu <- struct{}{}
		now := func() time.Time { <-mu; defer func() { mu <- struct{}{} }(); return time.Now().Add(offset) }
		h := newHarness(t, time.Hour, func(c *Credential, o *Options) { o.Now = now })
		h.src.now = now // the provider's clock is the same wall clock
		h.start()
		time.Sleep(time.Second)
		synctest.Wait()
		if n, _, _ := h.src.stats(); n != 1 {
			t.Fatalf("first refresh missing")
		}
		<-mu
		offset = 50 * time.Minute // the machine slept; monotonic timers did not advance
		mu <- struct{}{}
		time.Sleep(31 * time.Second) // one MaxWait
		synctest.Wait()
		h.stop()
		if n, _, _ := h.src.stats(); n != 2 {
			t.Fatalf("refreshes %d; the wall-clock jump past the refresh time was not noticed within MaxWait", n)
		}
	})
}

func TestShutdownFinishesAnsweredSave(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, time.Hour, nil)
		h.src.block = make(chan struct{})
		h.start()
		time.Sleep(time.Second)
		synctest.Wait() // the provider has rotated; its answer is held back
		h.cancel()
		time.Sleep(time.Second)
		synctest.Wait()
		close(h.src.block) // the answer arrives after shutdown began
		err := <-h.done
		h.done = nil
		if err != nil {
			t.Fatal(err)
		}
		if rec := h.store.get("cred"); rec.Generation != 1 || rec.RefreshToken.Reveal() != "rt-1-secretvalue" || rec.Intent != nil {
			t.Fatalf("answered refresh not saved on shutdown: gen %d", rec.Generation)
		}
	})
}

func TestClientCredentialsNeedsNoRefreshToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 10*time.Minute, func(c *Credential, o *Options) {
			c.Grant, c.Seed = grants.GrantClientCredentials, nil
		})
		h.src.noRotate = true
		h.start()
		time.Sleep(time.Hour)
		synctest.Wait()
		h.stop()
		n, _, _ := h.src.stats()
		if n < 8 || n > 10 { // every ~6-7 minutes
			t.Fatalf("%d re-authentications in an hour with 10-minute tokens", n)
		}
		if !h.store.get("cred").RefreshToken.IsZero() || h.sink.count() != n {
			t.Fatalf("client_credentials: sink writes %d", h.sink.count())
		}
	})
}

func TestNoRefreshTokenNeedsReauth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, time.Hour, func(c *Credential, o *Options) { c.Seed = nil })
		h.start()
		time.Sleep(time.Hour)
		synctest.Wait()
		h.stop()
		if _, _, calls := h.src.stats(); len(calls) != 0 {
			t.Fatalf("called the provider without a refresh token")
		}
		if st := h.status(); st.Status != state.StatusNeedsReauth || !strings.Contains(st.LastError.Description, "tokend import") {
			t.Fatalf("status %+v", st)
		}
	})
}

// TestSlowSinkDoesNotDelayOthers: a credential's sinks are written at the
// same time; the fast one holds the new token while the slow one (think of
// a change hook taking its time) is still running.
func TestSlowSinkDoesNotDelayOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slow := &slowSink{recSink: &recSink{name: "slow", t: t}, gate: make(chan struct{})}
		h := newHarness(t, time.Hour, func(c *Credential, _ *Options) {
			c.Sinks = []Sink{slow, c.Sinks[0]}
		})
		slow.store = h.store
		h.start()
		synctest.Wait() // the refresh is done; the slow sink waits at its gate
		if n, m := h.sink.count(), slow.count(); n != 1 || m != 0 {
			t.Fatalf("fast sink written %d times, slow %d, while the slow one is held; want 1 and 0", n, m)
		}
		close(slow.gate)
		synctest.Wait()
		if st := h.status(); st.Status != state.StatusOK || len(st.Sinks) != 2 || !st.Sinks[0].OK || !st.Sinks[1].OK {
			t.Fatalf("status after both sinks: %+v", st)
		}
		h.stop()
	})
}
