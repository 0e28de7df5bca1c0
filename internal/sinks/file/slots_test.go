package file

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestSlotsBoundWritesInFlight: sinks sharing Slots never have more writes in
// flight than its capacity, and a write waiting for a slot gives up with its
// ctx without touching the file.
func TestSlotsBoundWritesInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		slots := make(chan struct{}, 2)
		release := make(chan struct{})
		var inFlight atomic.Int32
		held := func(path string, data []byte, perm fs.FileMode) error {
			inFlight.Add(1)
			defer inFlight.Add(-1)
			<-release
			return os.WriteFile(path, data, perm)
		}
		var wg sync.WaitGroup
		for i := range 12 {
			s := newSink(t, Options{Path: filepath.Join(dir, string(rune('a'+i))), Slots: slots})
			s.write = held
			wg.Go(func() {
				if err := s.Write(context.Background(), token()); err != nil {
					t.Error(err)
				}
			})
		}
		synctest.Wait()
		if n := inFlight.Load(); n != 2 {
			t.Fatalf("%d writes in flight; want 2 (the slots), the others waiting", n)
		}
		close(release)
		wg.Wait()

		// All slots taken: a write gives up with its ctx and leaves no file.
		slots <- struct{}{}
		slots <- struct{}{}
		path := filepath.Join(dir, "waiting")
		s := newSink(t, Options{Path: path, Slots: slots})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := s.Write(ctx, token()); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("write with no free slot: %v; want the ctx error", err)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("file written without a slot: %v", err)
		}
		<-slots
		if err := s.Write(context.Background(), token()); err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, path); got != tokenValue {
			t.Fatalf("file holds %q", got)
		}
	})
}
