package scheduler

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tokend/tokend/internal/state"
)

// commitFails makes every save of an answered refresh fail (the intent
// saves succeed) while on is true, and records when each was tried.
type commitFails struct {
	mu    sync.Mutex
	on    bool
	tries []time.Time
}

func (c *commitFails) fail(r state.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.Intent != nil || r.Generation == 0 {
		return nil
	}
	c.tries = append(c.tries, time.Now())
	if c.on {
		return errors.New("no space left on device (injected)")
	}
	return nil
}

func (c *commitFails) set(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.on = on
}

// Issue 16 item 4: the disk had room again a moment before the stop; the
// answered refresh held in memory must be saved by the shutdown.
func TestShutdownSavesPendingRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, time.Hour, func(_ *Credential, o *Options) { o.ShutdownGrace = 5 * time.Second })
		cf := &commitFails{on: true}
		h.store.setFail(cf.fail)
		h.start()
		time.Sleep(300 * time.Millisecond)
		synctest.Wait()
		if !strings.Contains(h.logs.String(), "could not be saved") {
			t.Fatalf("no answered refresh is held in memory:\n%s", h.logs)
		}
		cf.set(false) // space freed ...
		time.Sleep(20 * time.Millisecond)
		h.stop() // ... and tokend stopped at once
		rec := h.store.get("cred")
		if rec.Generation != 1 || rec.RefreshToken.Reveal() != "rt-1-secretvalue" {
			t.Fatalf("the answered refresh was lost at shutdown: stored generation %d", rec.Generation)
		}
		if !strings.Contains(h.logs.String(), "shutdown: answered refresh saved") {
			t.Errorf("the shutdown save is not logged:\n%s", h.logs)
		}
	})
}

// The save of an answered refresh is retried at least every second.
func TestPendingSaveRetriesWithinASecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, time.Hour, nil)
		cf := &commitFails{on: true}
		h.store.setFail(cf.fail)
		h.start()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		cf.mu.Lock()
		tries := append([]time.Time(nil), cf.tries...)
		cf.mu.Unlock()
		if len(tries) < 10 {
			t.Fatalf("%d save attempts in 10 s; want at least 10", len(tries))
		}
		for i := 1; i < len(tries); i++ {
			if gap := tries[i].Sub(tries[i-1]); gap > time.Second {
				t.Fatalf("save retry %d came %s after the previous one; want <= 1s", i, gap)
			}
		}
		// The store never recovered: Run says what it could not save.
		var unsaved *UnsavedError
		if err := h.stopErr(); !errors.As(err, &unsaved) {
			t.Fatalf("Run returned %v; want an UnsavedError", err)
		}
	})
}

// What cannot be saved within the grace is named.
func TestShutdownNamesUnsavedRefreshes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, time.Hour, func(_ *Credential, o *Options) { o.ShutdownGrace = 2 * time.Second })
		cf := &commitFails{on: true}
		h.store.setFail(cf.fail)
		h.start()
		time.Sleep(300 * time.Millisecond)
		synctest.Wait()
		var unsaved *UnsavedError
		if err := h.stopErr(); !errors.As(err, &unsaved) || !slices.Equal(unsaved.Credentials, []string{"cred"}) {
			t.Fatalf("Run returned %v; want an UnsavedError naming cred", err)
		}
		logs := h.logs.String()
		if !strings.Contains(logs, "could not be saved within the shutdown grace") || !strings.Contains(logs, `"credentials":["cred"]`) {
			t.Fatalf("the unsaved refresh is not named:\n%s", logs)
		}
	})
}
