package scheduler

// Tests of the operator and replica paths: Import, Update (reload), claims,
// deferred jobs and check-and-set conflicts.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/sinks"
	"github.com/tokend/tokend/internal/state"
)

func TestImportRevivesNeedsReauth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, time.Hour, func(c *Credential, o *Options) { c.Seed = nil })
		h.start()
		time.Sleep(time.Second)
		synctest.Wait()
		if st := h.status(); st.Status != state.StatusNeedsReauth {
			t.Fatalf("status %s", st.Status)
		}
		// An operator imports a refresh token only: tokend refreshes at once.
		if err := h.s.Import(context.Background(), "cred", ImportedToken{RefreshToken: secret.New("rt-0-secretvalue")}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if st := h.status(); st.Status != state.StatusOK || st.Generation != 2 {
			t.Fatalf("after import: %+v", st)
		}
		// Importing an access token too writes it to the sinks without a refresh.
		n, _, _ := h.src.stats()
		exp := time.Now().Add(time.Hour)
		if err := h.s.Import(context.Background(), "cred", ImportedToken{RefreshToken: secret.New(h.src.current),
			AccessToken: secret.New("at-imported"), ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		h.stop()
		if n2, _, _ := h.src.stats(); n2 != n || h.sink.last().AccessToken.Reveal() != "at-imported" || h.store.get("cred").Generation != 3 {
			t.Fatalf("import with access token: refreshes %d->%d, sink %v", n, n2, h.sink.last().Generation)
		}
		if err := h.s.Import(context.Background(), "nope", ImportedToken{}); err == nil {
			t.Fatal("import into an unknown credential accepted")
		}
	})
}

func TestUpdateAddsChangesAndRemoves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, time.Hour, nil)
		h.start()
		time.Sleep(time.Second)
		synctest.Wait()
		src2 := newStrictSource(time.Hour, "other-rt")
		sink2 := &recSink{name: "b", store: h.store, t: t}
		c1 := Credential{Name: "cred", Grant: grants.GrantRefreshToken, Source: h.src, Sinks: []Sink{h.sink, sink2}, RefreshBefore: 30 * time.Minute}
		c2 := Credential{Name: "new", Grant: grants.GrantRefreshToken, Source: src2, Sinks: []Sink{sink2}, Seed: seed("other-rt")}
		if err := h.s.Update(context.Background(), []Credential{c1, c2}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		sts := h.s.Snapshot()
		if len(sts) != 2 || sts[1].Name != "new" || sts[1].Status != state.StatusOK {
			t.Fatalf("added credential not running: %+v", sts)
		}
		if len(sts[0].Sinks) != 2 || !sts[0].Sinks[1].OK || sts[0].NextRefresh.After(time.Now().Add(30*time.Minute)) {
			t.Fatalf("changed credential did not pick up its new sink/window: %+v", sts[0])
		}
		if err := h.s.Update(context.Background(), []Credential{c2}); err != nil {
			t.Fatal(err)
		}
		n, _, _ := h.src.stats()
		time.Sleep(3 * time.Hour)
		synctest.Wait()
		h.stop()
		if n2, _, _ := h.src.stats(); n2 != n {
			t.Fatalf("a removed credential kept refreshing (%d -> %d)", n, n2)
		}
		if h.store.get("cred").Generation == 0 || len(h.s.Snapshot()) != 1 {
			t.Fatal("removed credential's state lost or still listed")
		}
	})
}

// TestUpdateIsAllOrNothing: when the store cannot read the record of a
// credential a reload adds, the reload fails and changes nothing: the added
// credential is not there, the changed one keeps its sinks, the removed one
// keeps running. The same reload then succeeds once the store is back.
func TestUpdateIsAllOrNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, time.Hour, nil)
		h.start()
		time.Sleep(time.Second)
		synctest.Wait()
		down := errors.New("store unavailable")
		h.store.mu.Lock()
		h.store.failLoad = func(name string) error {
			if name == "new" {
				return down
			}
			return nil
		}
		h.store.mu.Unlock()
		sink2 := &recSink{name: "b", store: h.store, t: t}
		c1 := Credential{Name: "cred", Grant: grants.GrantRefreshToken, Source: h.src, Sinks: []Sink{h.sink, sink2}}
		c2 := Credential{Name: "new", Grant: grants.GrantRefreshToken, Source: newStrictSource(time.Hour, "other-rt"), Seed: seed("other-rt")}
		err := h.s.Update(context.Background(), []Credential{c1, c2})
		if !errors.Is(err, down) || !strings.Contains(err.Error(), `loading state for "new"`) {
			t.Fatalf("Update with the store failing = %v", err)
		}
		sts := h.s.Snapshot()
		if len(sts) != 1 || sts[0].Name != "cred" || len(sts[0].Sinks) != 1 {
			t.Fatalf("a failed Update changed the running set: %+v", sts)
		}
		h.store.mu.Lock()
		h.store.failLoad = nil
		h.store.mu.Unlock()
		if err := h.s.Update(context.Background(), []Credential{c1, c2}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		sts = h.s.Snapshot()
		if len(sts) != 2 || len(sts[0].Sinks) != 2 || sts[1].Status != state.StatusOK {
			t.Fatalf("Update after the store came back: %+v", sts)
		}
		if err := h.s.Update(context.Background(), []Credential{c1, c1}); err == nil || !strings.Contains(err.Error(), "configured twice") {
			t.Fatalf("Update with a name twice = %v", err)
		}
		h.stop()
	})
}

// claimStore is a memStore with a claim another replica can hold.
type claimStore struct {
	*memStore
	held   bool
	claims int
}

func (c *claimStore) Claim(ctx context.Context, name string, ttl time.Duration) (func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held {
		return nil, fmt.Errorf("claim on %q: %w", name, state.ErrClaimed)
	}
	c.claims++
	return func() {}, nil
}

func TestClaimHeldElsewhereAdoptsOtherReplicasResult(t *testing.T) {
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
		if _, _, calls := h.src.stats(); len(calls) != 0 {
			t.Fatal("refreshed although another replica holds the claim")
		}
		// The other replica finishes its refresh and releases the claim.
		cs.mu.Lock()
		cs.recs["cred"] = state.Record{Credential: "cred", RefreshToken: secret.New("rt-other"), Generation: 5, Status: state.StatusOK,
			AccessToken: secret.New("at-other"), IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
		cs.held = false
		cs.mu.Unlock()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		h.stop()
		if _, _, calls := h.src.stats(); len(calls) != 0 {
			t.Fatal("refreshed a credential another replica had just refreshed")
		}
		if st := h.status(); st.Generation != 5 || st.Status != state.StatusOK || h.sink.last().AccessToken.Reveal() != "at-other" {
			t.Fatalf("did not adopt the other replica's token: %+v", st)
		}
	})
}

// slowSink blocks writes until released, to hold a sink-only job in flight.
type slowSink struct {
	*recSink
	gate chan struct{}
}

func (s *slowSink) Write(ctx context.Context, tok sinks.Token) error {
	<-s.gate
	return s.recSink.Write(ctx, tok)
}

func TestRefreshDueDuringSinkJobIsNotLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var slow *slowSink
		h := newHarness(t, time.Hour, func(c *Credential, o *Options) {
			slow = &slowSink{recSink: &recSink{name: "slow", t: t}, gate: make(chan struct{})}
			c.Sinks = []Sink{slow}
		})
		slow.store = h.store
		now := time.Now()
		h.store.recs["cred"] = state.Record{Credential: "cred", RefreshToken: secret.New("rt-0-secretvalue"), Generation: 1, Status: state.StatusOK,
			AccessToken: secret.New("at-stored"), IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
		h.start()
		time.Sleep(time.Second) // the start-up sink job is now blocked in Write
		synctest.Wait()
		if err := h.s.RefreshNow("cred"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		close(slow.gate)
		time.Sleep(time.Second)
		synctest.Wait()
		h.stop()
		if n, _, _ := h.src.stats(); n != 1 {
			t.Fatalf("forced refresh requested during a sink write ran %d times; want 1", n)
		}
	})
}

// conflictStore fails the first Save of each generation with ErrConflict, as
// a shared store does when another writer touched the record.
type conflictStore struct {
	*memStore
	seen map[uint64]bool
}

func (c *conflictStore) Save(ctx context.Context, rec state.Record) error {
	c.mu.Lock()
	first := rec.Intent == nil && !c.seen[rec.Generation]
	c.seen[rec.Generation] = true
	c.mu.Unlock()
	if first {
		return fmt.Errorf("cas: %w", state.ErrConflict)
	}
	return c.memStore.Save(ctx, rec)
}

func TestSaveConflictResolvedByReread(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cs := &conflictStore{memStore: newMemStore(), seen: map[uint64]bool{}}
		h := newHarness(t, time.Hour, func(c *Credential, o *Options) { o.Store = cs })
		h.store, h.sink.store = cs.memStore, cs.memStore
		h.start()
		time.Sleep(time.Second)
		synctest.Wait()
		h.stop()
		if rec := cs.get("cred"); rec.Generation != 1 || h.sink.count() != 1 {
			t.Fatalf("conflict not resolved: generation %d, sink writes %d", rec.Generation, h.sink.count())
		}
	})
}
