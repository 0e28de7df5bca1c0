package scheduler

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/state"
)

// TestNeedsReauthRechecksSharedStore: a credential in needs_reauth (no token
// at start-up, or its refresh token rejected) in a shared store is re-read
// every ReauthRecheck without a call to the token endpoint; a record another
// writer stored (tokend import straight to Vault) is adopted and refreshed.
func TestNeedsReauthRechecksSharedStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cs := &claimStore{memStore: newMemStore()}
		h := newHarness(t, time.Hour, func(c *Credential, o *Options) {
			o.Store, o.ReauthRecheck, c.Seed = cs, 10*time.Second, nil
		})
		h.store = cs.memStore
		h.sink.store = cs.memStore
		h.start()
		time.Sleep(time.Minute)
		synctest.Wait()
		if st := h.status(); st.Status != state.StatusNeedsReauth {
			t.Fatalf("no token: status %s", st.Status)
		}
		if _, _, calls := h.src.stats(); len(calls) != 0 {
			t.Fatalf("%d token requests while in needs_reauth", len(calls))
		}
		// An import writes generation 1 with a refresh token only.
		cs.mu.Lock()
		cs.recs["cred"] = state.Record{}.Imported("cred", state.Tokens{RefreshToken: secret.New("rt-0-secretvalue")}, time.Now())
		cs.mu.Unlock()
		time.Sleep(11 * time.Second)
		synctest.Wait()
		st := h.status()
		if st.Status != state.StatusOK || st.Generation != 2 || h.sink.count() != 1 {
			t.Fatalf("after the import: %+v, %d sink writes", st, h.sink.count())
		}
		if !strings.Contains(h.logs.String(), "adopted a record stored by another writer") {
			t.Error("no adoption line")
		}

		// The provider rejects the refresh token: needs_reauth again, still no
		// further token requests while nothing new is stored; then adopted again.
		h.src.fail(&grants.Error{Credential: "cred", Status: 400, Code: "invalid_grant", Class: grants.ClassPermanent})
		if err := h.s.RefreshNow("cred"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		_, _, calls := h.src.stats()
		if st := h.status(); st.Status != state.StatusNeedsReauth || len(calls) != 2 {
			t.Fatalf("after invalid_grant: %s, %d calls", st.Status, len(calls))
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if _, _, c := h.src.stats(); len(c) != 2 {
			t.Fatalf("%d token requests while in needs_reauth", len(c)-2)
		}
		cs.mu.Lock()
		cs.recs["cred"] = cs.recs["cred"].Imported("cred", state.Tokens{RefreshToken: secret.New("rt-1-secretvalue"),
			AccessToken: secret.New("at-imported"), ExpiresAt: time.Now().Add(time.Hour)}, time.Now())
		cs.mu.Unlock()
		time.Sleep(11 * time.Second)
		synctest.Wait()
		st = h.status()
		h.stop()
		if st.Status != state.StatusOK || h.sink.last().AccessToken.Reveal() != "at-imported" {
			t.Fatalf("after the second import: %+v", st)
		}
		if _, reuses, _ := h.src.stats(); reuses != 0 {
			t.Fatalf("%d reuses", reuses)
		}
	})
}

// TestNeedsReauthFileStoreNoRecheck: with an unshared store nothing changes
// the record behind the daemon's back, so nothing is re-read.
func TestNeedsReauthFileStoreNoRecheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, time.Hour, func(c *Credential, o *Options) { o.ReauthRecheck, c.Seed = time.Second, nil })
		loads := 0
		h.store.failLoad = func(string) error { loads++; return nil } // counts; called under h.store.mu
		h.start()
		time.Sleep(time.Minute)
		synctest.Wait()
		h.store.mu.Lock()
		n := loads
		h.store.mu.Unlock()
		if st := h.status(); st.Status != state.StatusNeedsReauth || n != 1 {
			t.Fatalf("status %s, %d loads in a minute (want the start-up one)", st.Status, n)
		}
	})
}
