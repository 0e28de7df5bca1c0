package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// waiting reports how many callers are blocked waiting in dir's group.
func waiting(s *DirSyncer, dir string) int { return s.group(dir).Waiting() }

// syncing reports whether a fsync of dir is running or about to start.
func syncing(s *DirSyncer, dir string) bool { return s.group(dir).Busy() }

// TestDirSyncerShares holds the first directory fsync open while n more
// callers arrive: they all share exactly one second fsync.
func TestDirSyncerShares(t *testing.T) {
	const n = 40
	dir := t.TempDir()
	s := NewDirSyncer()
	var calls atomic.Int32
	hold, release := make(chan struct{}), make(chan struct{})
	s.sync = func(d string) error {
		if calls.Add(1) == 1 {
			close(hold)
			<-release
		}
		return SyncDir(d)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n+1)
	wg.Go(func() { errs <- s.Sync(dir) })
	<-hold
	for range n {
		wg.Go(func() { errs <- s.Sync(dir) })
	}
	for waiting(s, dir) < n {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("%d callers took %d directory fsyncs, want 2", n+1, got)
	}
}

// TestDirSyncerError hands a failed fsync's error to every caller that
// waited for it, and the next caller gets a fresh fsync.
func TestDirSyncerError(t *testing.T) {
	dir := t.TempDir()
	s := NewDirSyncer()
	boom := errors.New("fsync failed")
	var fail atomic.Bool
	fail.Store(true)
	s.sync = func(d string) error {
		if fail.Load() {
			return boom
		}
		return SyncDir(d)
	}
	if err := s.Sync(dir); !errors.Is(err, boom) {
		t.Fatalf("Sync = %v, want %v", err, boom)
	}
	fail.Store(false)
	if err := s.Sync(dir); err != nil {
		t.Fatalf("Sync after the fault cleared = %v", err)
	}
	if syncing(s, dir) {
		t.Fatal("group still marked as syncing")
	}
}

// TestDirSyncerWriteFile writes 100 files from 100 goroutines into one real
// directory: every file holds its content, no temp file is left, and the
// directory was fsync'd fewer times than there were files.
func TestDirSyncerWriteFile(t *testing.T) {
	const n = 100
	dir := t.TempDir()
	s := NewDirSyncer()
	var calls atomic.Int32
	s.sync = func(d string) error { calls.Add(1); return SyncDir(d) }
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p := filepath.Join(dir, fmt.Sprintf("f%03d.json", i))
			if err := s.WriteFile(p, []byte(fmt.Sprintf("token-%d", i)), 0o640); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != n {
		t.Fatalf("%d entries in the directory, want %d (temp files left?)", len(ents), n)
	}
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("f%03d.json", i))
		b, err := os.ReadFile(p)
		if err != nil || string(b) != fmt.Sprintf("token-%d", i) {
			t.Fatalf("%s = %q, %v", p, b, err)
		}
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
			t.Errorf("%s mode %o, want 640", p, fi.Mode().Perm())
		}
	}
	t.Logf("%d files, %d directory fsyncs", n, calls.Load())
	if got := calls.Load(); got < 1 || got > n {
		t.Errorf("%d directory fsyncs for %d files", got, n)
	}
}

// TestDirSyncerSeparateDirs keeps directories apart: a held fsync of one
// does not delay another.
func TestDirSyncerSeparateDirs(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	s := NewDirSyncer()
	hold, release := make(chan struct{}), make(chan struct{})
	s.sync = func(d string) error {
		if d == a {
			close(hold)
			<-release
		}
		return SyncDir(d)
	}
	done := make(chan error)
	go func() { done <- s.Sync(a) }()
	<-hold
	if err := s.Sync(b); err != nil { // returns although a's fsync is held
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
