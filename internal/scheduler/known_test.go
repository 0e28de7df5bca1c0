package scheduler

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/syncbuf"
)

// loadCounter is a real file store that counts its Loads; it keeps the
// store's powers (CommitKnower, FileKeeper) by embedding it.
type loadCounter struct {
	*state.FileStore
	loads atomic.Int64
}

func (l *loadCounter) Load(ctx context.Context, name string) (state.Record, error) {
	l.loads.Add(1)
	return l.FileStore.Load(ctx, name)
}

// knownRig runs a scheduler over a real file store with one credential
// refreshed from a strict source, inside a synctest bubble.
type knownRig struct {
	t     *testing.T
	store *loadCounter
	src   *strictSource
	s     *Scheduler
}

func newKnownRig(t *testing.T) *knownRig {
	fs, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := &knownRig{t: t, store: &loadCounter{FileStore: fs}, src: newStrictSource(time.Hour, "rt-0-secretvalue")}
	c := Credential{Name: "cred", Grant: grants.GrantRefreshToken, Source: r.src, Seed: seed("rt-0-secretvalue")}
	r.s, err = New(Options{Store: r.store, Logger: newLogger(&syncbuf.Buffer{}), Rand: func() float64 { return 0.5 },
		MinInterval: time.Millisecond}, []Credential{c})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		_ = fs.Close()
	})
	synctest.Wait() // start-up: the seed is stored and refreshed once
	return r
}

// refresh forces a refresh and waits for its outcome.
func (r *knownRig) refresh() CredentialStatus {
	r.t.Helper()
	time.Sleep(time.Second) // past MinInterval
	if err := r.s.RefreshNow("cred"); err != nil {
		r.t.Fatal(err)
	}
	synctest.Wait()
	return r.s.Snapshot()[0]
}

// A refresh whose record the file store knows it holds (this process
// committed it) does not read it again; the rotations stay strict.
func TestRefreshSkipsReadOfKnownRecord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newKnownRig(t)
		if st := r.s.Snapshot()[0]; st.Generation != 1 || st.Status != state.StatusOK {
			t.Fatalf("after start-up: generation %d status %s; want 1 ok", st.Generation, st.Status)
		}
		before := r.store.loads.Load()
		for i := range 5 {
			if st := r.refresh(); st.Generation != uint64(i+2) || st.Status != state.StatusOK {
				t.Fatalf("refresh %d: generation %d status %s", i+1, st.Generation, st.Status)
			}
		}
		if got := r.store.loads.Load() - before; got != 0 {
			t.Errorf("5 refreshes of a record this process committed read it %d times; want 0", got)
		}
		n, reuses, _ := r.src.stats()
		rec, err := r.store.FileStore.Load(context.Background(), "cred")
		if err != nil {
			t.Fatal(err)
		}
		if n != 6 || reuses != 0 || rec.Generation != 6 || rec.RefreshToken.Reveal() != r.src.current {
			t.Fatalf("provider refreshes %d reuses %d, stored generation %d; want 6, 0, 6 and the provider's current token", n, reuses, rec.Generation)
		}
	})
}

// A record written through the store by another writer in this process (not
// through the scheduler) is read and used by the next refresh: its refresh
// token, not the one the scheduler knew, is the one spent.
func TestRefreshReadsRecordWrittenBesideIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newKnownRig(t)
		ctx := context.Background()
		rec, err := r.store.FileStore.Load(ctx, "cred")
		if err != nil {
			t.Fatal(err)
		}
		// The provider has rotated out of band (tokend authorize elsewhere):
		// only the new token is valid, and the old one would be a reuse.
		r.src.mu.Lock()
		r.src.used[r.src.current] = true
		r.src.current = "rt-outside-secretvalue"
		r.src.mu.Unlock()
		rec = rec.Imported("cred", state.Tokens{RefreshToken: secret.New("rt-outside-secretvalue")}, time.Now())
		if err := r.store.FileStore.Save(ctx, rec); err != nil {
			t.Fatal(err)
		}
		before := r.store.loads.Load()
		st := r.refresh()
		if r.store.loads.Load() == before {
			t.Error("the refresh after a write beside the scheduler did not read the record")
		}
		if st.Status != state.StatusOK || st.Generation != rec.Generation+1 {
			t.Fatalf("after the outside write: status %s generation %d; want ok and %d", st.Status, st.Generation, rec.Generation+1)
		}
		if _, reuses, _ := r.src.stats(); reuses != 0 {
			t.Fatalf("%d refresh-token reuses: the refresh spent the token the scheduler knew, not the stored one", reuses)
		}
	})
}

// A token imported through the admin API (Scheduler.Import) while the
// scheduler runs is the one the next refresh spends.
func TestRefreshAfterImportSpendsImportedToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newKnownRig(t)
		r.src.mu.Lock()
		r.src.used[r.src.current] = true
		r.src.current = "rt-imported-secretvalue"
		r.src.mu.Unlock()
		if err := r.s.Import(context.Background(), "cred", ImportedToken{RefreshToken: secret.New("rt-imported-secretvalue")}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the import plans a refresh at once (no access token)
		st := r.refresh()
		if st.Status != state.StatusOK {
			t.Fatalf("status %s after the import (%v); want ok", st.Status, st.LastError)
		}
		if n, reuses, _ := r.src.stats(); reuses != 0 || n < 2 {
			t.Fatalf("provider refreshes %d reuses %d; want >= 2 and 0", n, reuses)
		}
	})
}
