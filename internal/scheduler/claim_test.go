package scheduler

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/state"
)

// TestHeldClaimStillAdoptsNewerRecord: another replica holds the claim and
// never lets it go (it died holding it), but the record it committed before
// dying is newer: this replica adopts it at its next look instead of waiting
// for the claim to expire.
func TestHeldClaimStillAdoptsNewerRecord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cs := &claimStore{memStore: newMemStore(), held: true}
		h := newHarness(t, time.Hour, func(c *Credential, o *Options) { o.Store = cs })
		h.store = cs.memStore
		h.sink.store = cs.memStore
		now := time.Now()
		cs.recs["cred"] = state.Record{Credential: "cred", RefreshToken: secret.New("rt-0-secretvalue"), Generation: 4, Status: state.StatusOK,
			AccessToken: secret.New("at-old"), IssuedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Minute)}
		h.start()
		time.Sleep(time.Second)
		synctest.Wait()
		// The holder committed generation 5 and began its next refresh (its
		// intent is in the record) before it died.
		cs.mu.Lock()
		next := state.Record{Credential: "cred", RefreshToken: secret.New("rt-other"), Generation: 5, Status: state.StatusOK,
			AccessToken: secret.New("at-other"), IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
		cs.recs["cred"] = next.WithIntent(time.Now())
		cs.mu.Unlock()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		st := h.status()
		h.stop()
		if _, _, calls := h.src.stats(); len(calls) != 0 {
			t.Fatal("refreshed although another replica holds the claim")
		}
		if st.Generation != 5 || st.Status != state.StatusOK || h.sink.last().AccessToken.Reveal() != "at-other" {
			t.Fatalf("did not adopt the newer record while the claim was held: %+v", st)
		}
	})
}

// holdStore is a memStore whose claim is lost as soon as it is taken.
type holdStore struct {
	*memStore
	holds int
}

func (h *holdStore) HoldClaim(ctx context.Context, name string, ttl time.Duration) (context.Context, func(), error) {
	h.holds++
	held, cancel := context.WithCancel(ctx)
	cancel() // lost at once: no renewal could be written
	return held, func() {}, nil
}

// TestLostClaimSpendsNothing: a refresh whose claim is lost before it spent
// the refresh token does not spend it (the intent save, under the claim's
// context, fails first) and the stored record is untouched.
func TestLostClaimSpendsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hs := &holdStore{memStore: newMemStore()}
		h := newHarness(t, time.Hour, func(c *Credential, o *Options) { o.Store = hs })
		h.store = hs.memStore
		h.sink.store = hs.memStore
		now := time.Now()
		rec := state.Record{Credential: "cred", RefreshToken: secret.New("rt-0-secretvalue"), Generation: 4, Status: state.StatusOK,
			AccessToken: secret.New("at-old"), IssuedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Minute)}
		hs.recs["cred"] = rec
		h.start()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		h.stop()
		if _, _, calls := h.src.stats(); len(calls) != 0 {
			t.Fatalf("spent the refresh token %d times after losing the claim", len(calls))
		}
		if hs.holds == 0 {
			t.Fatal("the claim was never taken")
		}
		if got := hs.get("cred"); got.Generation != 4 || got.Intent != nil || got.RefreshToken.Reveal() != "rt-0-secretvalue" {
			t.Fatalf("record changed: generation %d, intent %v", got.Generation, got.Intent)
		}
	})
}
