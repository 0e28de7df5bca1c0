package atomicfile

import (
	"context"
	"io/fs"
	"path/filepath"
	"sync"

	"github.com/tokend/tokend/internal/coalesce"
)

// DirSyncer makes renames durable with as few directory fsyncs as the
// writers allow: concurrent writers into one directory share one fsync of it
// (group commit). A burst of rotations rewrites thousands of sink files in
// one directory at once; one fsync of the directory after many renames makes
// all of them durable, where one per file costs an fsync and a journal commit
// each.
//
// A DirSyncer is safe for concurrent use; the zero value is not usable, call
// NewDirSyncer. One per process (or per set of sinks) is enough.
type DirSyncer struct {
	mu   sync.Mutex
	dirs map[string]*coalesce.Group // one per directory: its fsyncs never overlap

	sync func(dir string) error // SyncDir; replaced in tests
}

// NewDirSyncer returns a DirSyncer that fsyncs with SyncDir.
func NewDirSyncer() *DirSyncer {
	return &DirSyncer{dirs: map[string]*coalesce.Group{}, sync: SyncDir}
}

// WriteFile is the package's WriteFile with the final directory fsync shared
// with concurrent writers into the same directory. Its guarantees are the
// same: when it returns nil the new content and the rename survive a crash.
func (s *DirSyncer) WriteFile(path string, data []byte, perm fs.FileMode) error {
	return writeFile(path, data, perm, s.Sync)
}

// Sync returns when a fsync of dir that started after Sync was called has
// finished, with that fsync's error. If a fsync of dir is already running,
// the caller waits for it and then for the next one, which it shares with
// every caller that arrived meanwhile (coalesce.Group). Sync is not
// cancellable: a rename is durable only once a fsync has covered it.
func (s *DirSyncer) Sync(dir string) error {
	dir = filepath.Clean(dir)
	return s.group(dir).Do(context.Background(), func() error { return s.sync(dir) })
}

func (s *DirSyncer) group(dir string) *coalesce.Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.dirs[dir]
	if g == nil {
		g = &coalesce.Group{}
		s.dirs[dir] = g
	}
	return g
}
