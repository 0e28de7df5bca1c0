package scheduler

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tokend/tokend/internal/state"
)

// trackedClaims is a memStore with one claim per credential that a second
// replica would meet: HoldClaim fails with state.ErrClaimed while it is
// held, and every save records whether the claim was held at that moment.
type trackedClaims struct {
	*memStore
	cmu      sync.Mutex
	held     bool
	releases int
	// heldAtCommit: for each save of a record without an intent (an answer
	// or a status), whether the claim was held when it was tried.
	heldAtCommit []bool
}

func (c *trackedClaims) HoldClaim(ctx context.Context, name string, ttl time.Duration) (context.Context, func(), error) {
	c.cmu.Lock()
	defer c.cmu.Unlock()
	if c.held {
		return nil, nil, fmt.Errorf("claim on %q: %w", name, state.ErrClaimed)
	}
	c.held = true
	once := sync.Once{}
	return ctx, func() {
		once.Do(func() {
			c.cmu.Lock()
			c.held, c.releases = false, c.releases+1
			c.cmu.Unlock()
		})
	}, nil
}

func (c *trackedClaims) isHeld() bool {
	c.cmu.Lock()
	defer c.cmu.Unlock()
	return c.held
}

// An answered refresh whose save failed keeps the refresh claim until the
// answer is on disk. Released at once (as before), another replica would
// claim the credential, read the record whose refresh token this replica
// already spent, and spend it again: reuse, which revokes the family — the
// new refresh token held in memory with it.
func TestUnsavedAnswerKeepsTheClaimUntilSaved(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tc := &trackedClaims{memStore: newMemStore()}
		h := newHarness(t, time.Hour, func(_ *Credential, o *Options) { o.Store = tc })
		h.store = tc.memStore
		h.sink.store = tc.memStore
		cf := &commitFails{on: true}
		tc.setFail(func(r state.Record) error {
			if r.Intent == nil && r.Generation > 0 {
				tc.cmu.Lock()
				tc.heldAtCommit = append(tc.heldAtCommit, tc.held)
				tc.cmu.Unlock()
			}
			return cf.fail(r)
		})
		h.start()
		time.Sleep(3 * time.Second) // the answer's save fails, and its retries
		synctest.Wait()
		if !tc.isHeld() {
			t.Fatal("the claim was released while the answered refresh was not on disk: another replica could spend its spent refresh token")
		}
		if !strings.Contains(h.logs.String(), `"refresh_claim_kept": true`) && !strings.Contains(h.logs.String(), `"refresh_claim_kept":true`) {
			t.Errorf("the unsaved-answer line does not say the claim is kept:\n%s", h.logs)
		}
		cf.set(false) // the store takes writes again
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if tc.isHeld() {
			t.Fatal("the claim is still held after the answer reached the store")
		}
		rec := tc.get("cred")
		h.stop()
		if rec.Generation != 1 || rec.RefreshToken.Reveal() != "rt-1-secretvalue" {
			t.Fatalf("the answered refresh was not saved: generation %d", rec.Generation)
		}
		tc.cmu.Lock()
		defer tc.cmu.Unlock()
		if len(tc.heldAtCommit) < 3 {
			t.Fatalf("expected the failing save and its retries, saw %d tries", len(tc.heldAtCommit))
		}
		for i, held := range tc.heldAtCommit {
			if !held {
				t.Errorf("save try %d of the answer ran without the claim", i+1)
			}
		}
		if tc.releases != 1 {
			t.Errorf("claim released %d times, want once", tc.releases)
		}
		if _, reuses, _ := h.src.stats(); reuses != 0 {
			t.Errorf("%d refresh-token reuses", reuses)
		}
	})
}

// A stop that cannot save the answer gives the claim up (the answer is lost
// with this process; other replicas must be able to claim again).
func TestStopReleasesTheClaimOfALostAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tc := &trackedClaims{memStore: newMemStore()}
		h := newHarness(t, time.Hour, func(_ *Credential, o *Options) { o.Store = tc; o.ShutdownGrace = time.Second })
		h.store = tc.memStore
		h.sink.store = tc.memStore
		cf := &commitFails{on: true}
		tc.setFail(cf.fail)
		h.start()
		time.Sleep(time.Second)
		synctest.Wait()
		if !tc.isHeld() {
			t.Fatal("the claim was not kept for the unsaved answer")
		}
		h.stopErr() // the answer cannot be saved: Run reports it lost
		if tc.isHeld() {
			t.Fatal("the claim outlived the stop")
		}
	})
}
