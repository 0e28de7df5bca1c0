package scheduler

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tokend/tokend/internal/state"
)

// stepClock is a wall clock that can be stepped while the bubble's timers
// (the monotonic clock) keep running.
type stepClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *stepClock) step(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// gaps returns the time between successive calls.
func gaps(calls []time.Time) []time.Duration {
	var g []time.Duration
	for i := 1; i < len(calls); i++ {
		g = append(g, calls[i].Sub(calls[i-1]))
	}
	return g
}

// TestWallClockStepBackKeepsRefreshing: the wall clock steps back an hour
// (NTP correction, VM restore) ten seconds after a 60 s token was issued.
// The refresh planned before the step still happens on time (a third of the
// lifetime before expiry, by the timers), and so do the ones after it: the
// provider is never left more than a token lifetime without a refresh. On a
// scheduler that planned on the wall clock alone, the next refresh was an
// hour away.
func TestWallClockStepBackKeepsRefreshing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := &stepClock{}
		h := newHarness(t, time.Minute, func(c *Credential, o *Options) { o.Now = clk.Now })
		h.src.now = clk.Now // the provider's clock is the same wall clock
		h.start()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if n, _, _ := h.src.stats(); n != 1 {
			t.Fatalf("refreshes before the step %d; want 1", n)
		}
		clk.step(-time.Hour)
		time.Sleep(140 * time.Second)
		synctest.Wait()
		h.stop()
		n, reuses, calls := h.src.stats()
		if n < 4 || reuses != 0 {
			t.Fatalf("refreshes in 150 s of 60 s tokens with the wall clock stepped back an hour: %d (reuses %d); want >= 4 and 0", n, reuses)
		}
		// Planned at 37.5 s after issue (jitter 0.5): the refresh planned
		// before the step keeps its time, to the timer.
		for i, g := range gaps(calls) {
			if g < 37*time.Second || g > 38*time.Second {
				t.Fatalf("gap %d between refreshes %v; want 37.5 s (every refresh on time)", i, g)
			}
		}
		if h.sink.count() != n {
			t.Fatalf("sink writes %d; want %d", h.sink.count(), n)
		}
		if !strings.Contains(h.logs.String(), "the wall clock stepped back") {
			t.Fatalf("the step was not logged:\n%s", h.logs.String())
		}
	})
}

// TestWallClockStepBackDuringBackoff: the step comes while a refresh is
// backing off with its token about to expire; the remaining life is measured
// on the timers, so the retries stay as short as before the step (half the
// remaining life) instead of growing as if the token had an hour left.
func TestWallClockStepBackDuringBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := &stepClock{}
		h := newHarness(t, time.Minute, func(c *Credential, o *Options) {
			o.Now = clk.Now
			o.Backoff = Backoff{Min: 2 * time.Second, Max: 5 * time.Minute}
		})
		h.src.now = clk.Now
		h.start()
		time.Sleep(time.Second)
		synctest.Wait()
		transient := errors.New("connection refused (injected)")
		for range 30 {
			h.src.fail(transient)
		}
		time.Sleep(40 * time.Second) // the planned refresh (37.5 s) failed once
		synctest.Wait()
		clk.step(-time.Hour)
		time.Sleep(25 * time.Second) // the token (issued at 0 s) has expired by the timers
		synctest.Wait()
		h.stop()
		_, _, calls := h.src.stats()
		var after []time.Time
		for _, c := range calls[1:] {
			if c.Sub(calls[0]) >= 41*time.Second {
				after = append(after, c)
			}
		}
		// 60 s token, 22 s of life left after the step: the backoff stays
		// below half the remaining life; before, it grew to minutes.
		if len(after) < 3 {
			t.Fatalf("%d refresh attempts in the 25 s after the step (calls at %v); want >= 3", len(after), calls)
		}
	})
}

// TestStorageRetriesCappedWhileTokenExpired: the state store fails (a sealed
// Vault) for ten minutes while the access token expires. Retries go on at
// most maxStorageRetry apart, never faster than Backoff.Min, so the refresh
// resumes within seconds of the store's recovery (issue 16 item 7: before,
// the backoff grew to minutes, 55.7 s measured after an unseal).
func TestStorageRetriesCappedWhileTokenExpired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, time.Minute, nil)
		h.start()
		time.Sleep(time.Second)
		synctest.Wait()
		var mu sync.Mutex
		var tries []time.Time
		sealed := true
		h.store.mu.Lock()
		h.store.failLoad = func(string) error {
			mu.Lock()
			defer mu.Unlock()
			if !sealed {
				return nil
			}
			tries = append(tries, time.Now())
			return errors.New("Vault is sealed (injected)")
		}
		h.store.mu.Unlock()
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		mu.Lock()
		sealed = false
		recovered := time.Now()
		mu.Unlock()
		var resumed time.Duration
		for resumed = 0; resumed < time.Minute; resumed += 100 * time.Millisecond {
			if n, _, _ := h.src.stats(); n == 2 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		synctest.Wait()
		h.stop()
		if n, reuses, _ := h.src.stats(); n != 2 || reuses != 0 {
			t.Fatalf("refreshes %d reuses %d; want 2 and 0", n, reuses)
		}
		if resumed > 10*time.Second {
			t.Fatalf("resumed %v after the store recovered; want <= 10 s", resumed)
		}
		if st := h.status(); st.Status != state.StatusOK || h.sink.last().Generation != 2 {
			t.Fatalf("status %s, sink generation %d; want ok and 2", st.Status, h.sink.last().Generation)
		}
		mu.Lock()
		defer mu.Unlock()
		for i, g := range gaps(tries) {
			if g < 2*time.Second {
				t.Fatalf("storage retry %d after %v: faster than Backoff.Min", i+1, g)
			}
			if tries[i+1].Sub(tries[0]) > 2*time.Minute && g > maxStorageRetry {
				t.Fatalf("storage retry %d after %v with the token expired; want <= %v", i+1, g, maxStorageRetry)
			}
		}
		t.Logf("%d storage attempts in 10 min; resumed %v after recovery (at %v)", len(tries), resumed, recovered.Format(time.TimeOnly))
	})
}
