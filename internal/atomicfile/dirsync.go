package atomicfile

import (
	"io/fs"
	"path/filepath"
	"sync"
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
	dirs map[string]*dirGroup

	sync func(dir string) error // SyncDir; replaced in tests
}

// NewDirSyncer returns a DirSyncer that fsyncs with SyncDir.
func NewDirSyncer() *DirSyncer {
	return &DirSyncer{dirs: map[string]*dirGroup{}, sync: SyncDir}
}

// dirGroup serialises the fsyncs of one directory. Syncs are numbered; a
// caller needs one that started after its own rename.
type dirGroup struct {
	mu       sync.Mutex
	cond     sync.Cond
	syncing  bool
	started  uint64 // syncs started
	finished uint64 // syncs finished; they finish in order
	lastErr  error  // result of sync number finished
	waiting  int    // callers blocked in cond.Wait (tests observe it)
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
// every caller that arrived meanwhile.
func (s *DirSyncer) Sync(dir string) error {
	g := s.group(filepath.Clean(dir))
	g.mu.Lock()
	defer g.mu.Unlock()
	need := g.started + 1 // a sync that starts from now on
	for g.finished < need {
		if g.syncing {
			g.waiting++
			g.cond.Wait()
			g.waiting--
			continue
		}
		g.syncing = true
		g.started++
		n := g.started
		g.mu.Unlock()
		err := s.sync(dir)
		g.mu.Lock()
		g.syncing = false
		g.finished, g.lastErr = n, err
		g.cond.Broadcast()
	}
	// Every sync numbered need..finished started after the caller's rename;
	// the latest one's result is the one that counts.
	return g.lastErr
}

func (s *DirSyncer) group(dir string) *dirGroup {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.dirs[dir]
	if g == nil {
		g = &dirGroup{}
		g.cond.L = &g.mu
		s.dirs[dir] = g
	}
	return g
}
