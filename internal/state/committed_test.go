package state

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestCommittedFollowsCommits checks that Committed reports what the file
// holds: nothing before this store committed a record, the generation of
// each committed Save, nothing after a Delete, and no change from a write
// that failed.
func TestCommittedFollowsCommits(t *testing.T) {
	s := openTemp(t, Options{})
	ctx := t.Context()
	if g, ok := s.Committed("a"); ok {
		t.Fatalf("Committed before any save = %d, true; want false", g)
	}
	rec := fullRecord("a")
	rec.Generation = 7
	if err := s.Save(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if g, ok := s.Committed("a"); !ok || g != 7 {
		t.Fatalf("Committed after saving generation 7 = %d, %v", g, ok)
	}
	got, err := s.Load(ctx, "a")
	if err != nil || got.Generation != 7 {
		t.Fatalf("Load = generation %d, %v; want 7", got.Generation, err)
	}
	bad := errors.New("bad write")
	if err := s.group.doThen(func(*bolt.Bucket) error { return bad }, func() { s.noteCommitted("a", 99) }); !errors.Is(err, bad) {
		t.Fatalf("failing write: %v", err)
	}
	if g, _ := s.Committed("a"); g != 7 {
		t.Fatalf("Committed after a failed write = %d; want 7", g)
	}
	if err := s.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if g, ok := s.Committed("a"); ok {
		t.Fatalf("Committed after Delete = %d, true; want false", g)
	}
}

// TestCommittedUnderGroupCommit checks that concurrent Saves, committed in
// shared transactions, leave Committed equal to what Load reads.
func TestCommittedUnderGroupCommit(t *testing.T) {
	s := openTemp(t, Options{})
	ctx := t.Context()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 20 {
				rec := fullRecord(fmt.Sprintf("c%d", w))
				rec.Generation = uint64(i + 1)
				if err := s.Save(ctx, rec); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for w := range 8 {
		name := fmt.Sprintf("c%d", w)
		rec, err := s.Load(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if g, ok := s.Committed(name); !ok || g != rec.Generation || g != 20 {
			t.Errorf("%s: Committed = %d, %v; Load reads generation %d; want 20", name, g, ok, rec.Generation)
		}
	}
}
