package state

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestGroupCommitStress saves and deletes from many goroutines at once: every
// write lands, each caller sees its own outcome, and the writes share far
// fewer commits than there are writes (leadership passes between callers).
func TestGroupCommitStress(t *testing.T) {
	const workers, each = 32, 40
	s := openTemp(t, Options{})
	before := s.group.commits.Load()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				rec := fullRecord(fmt.Sprintf("w%02d-%02d", w, i))
				rec.Generation = uint64(i + 1)
				if err := s.Save(t.Context(), rec); err != nil {
					t.Error(err)
					return
				}
				if i%4 == 3 { // delete every fourth again
					if err := s.Delete(t.Context(), rec.Credential); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	writes := uint64(workers * (each + each/4))
	commits := s.group.commits.Load() - before
	t.Logf("%d writes in %d commits", writes, commits)
	if commits >= writes {
		t.Errorf("%d writes took %d commits: no grouping", writes, commits)
	}
	recs, err := s.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := workers * (each - each/4); len(recs) != want {
		t.Fatalf("List = %d records, want %d", len(recs), want)
	}
	for _, r := range recs {
		var w, i int
		if _, err := fmt.Sscanf(r.Credential, "w%02d-%02d", &w, &i); err != nil || i%4 == 3 || r.Generation != uint64(i+1) {
			t.Errorf("unexpected record %s generation %d", r.Credential, r.Generation)
		}
	}
}

// TestGroupCommitOwnErrors checks that a write failing inside a shared
// transaction fails alone: the others in its group are committed.
func TestGroupCommitOwnErrors(t *testing.T) {
	s := openTemp(t, Options{})
	hold, release := make(chan struct{}), make(chan struct{})
	first := true
	s.group.beforeCommit = func(int) {
		if first {
			first = false
			close(hold)
			<-release
		}
	}
	bad := errors.New("bad write")
	errs := make([]error, 4)
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = s.Save(t.Context(), fullRecord("first")) })
	<-hold
	wg.Go(func() { errs[1] = s.group.do(func(*bolt.Bucket) error { return bad }) })
	for queued(s) < 1 {
		runtime.Gosched()
	}
	wg.Go(func() { errs[2] = s.Save(t.Context(), fullRecord("second")) })
	wg.Go(func() { errs[3] = s.Save(t.Context(), fullRecord("third")) })
	for queued(s) < 3 {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if errs[0] != nil || !errors.Is(errs[1], bad) || errs[2] != nil || errs[3] != nil {
		t.Fatalf("errors = %v; want only the second to fail with %v", errs, bad)
	}
	for _, name := range []string{"first", "second", "third"} {
		if _, err := s.Load(t.Context(), name); err != nil {
			t.Errorf("Load(%s): %v", name, err)
		}
	}
}
