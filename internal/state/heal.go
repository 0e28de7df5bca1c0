package state

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tokend/tokend/internal/atomicfile"
)

// ErrFileGone marks a store whose file was deleted or replaced under the
// running process: commits would go into a file nobody will ever open again.
var ErrFileGone = errors.New("the state store file was deleted or replaced while tokend runs")

// CheckFile reports whether the path still names the file this store has
// open (nil), or an error wrapping ErrFileGone naming the path. It is cheap
// (one stat) and safe for concurrent use; Save and Delete call it before
// every commit (once per group-commit transaction) and refuse to commit
// when it fails.
func (s *FileStore) CheckFile() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return errClosed
	}
	return s.checkFile()
}

// checkFile is CheckFile with s.mu held.
func (s *FileStore) checkFile() error {
	fi, err := os.Stat(s.path)
	if err == nil && os.SameFile(fi, s.opened) {
		return nil
	}
	s.fault.Store(true)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrFileGone, s.path, err)
	}
	return fmt.Errorf("%w: %s is now another file", ErrFileGone, s.path)
}

// Healthy reports whether the store's file is known to be in place (false
// from a failed CheckFile until Recreate succeeds). It never blocks.
func (s *FileStore) Healthy() bool { return !s.fault.Load() }

// Recreate puts the store back at its path after its file (or the whole
// directory) was deleted or replaced: the still-open database — every
// committed record, the newest there is — is copied durably to the path
// (a file found there instead is kept aside as tokend.db.replaced-<time>),
// the copy is opened and locked, the marker is rewritten, and the old file
// is closed. Callers then retry saves that failed meanwhile. Nothing is done
// when the file is in place. Safe for concurrent use: other methods wait.
func (s *FileStore) Recreate() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	if s.checkFile() == nil {
		s.fault.Store(false)
		return nil
	}
	if err := s.recreate(); err != nil {
		return fmt.Errorf("re-creating state store %s: %w", s.path, err)
	}
	s.fault.Store(false)
	return nil
}

func (s *FileStore) recreate() error {
	if err := ensureDir(s.dir); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := s.db.View(func(tx *bolt.Tx) error { _, err := tx.WriteTo(&buf); return err }); err != nil {
		return fmt.Errorf("copying the open database: %w", err)
	}
	if _, err := os.Lstat(s.path); err == nil {
		aside := fmt.Sprintf("%s.replaced-%s", s.path, time.Now().UTC().Format(backupStamp))
		if err := os.Rename(s.path, aside); err != nil {
			return fmt.Errorf("moving the foreign file aside: %w", err)
		}
	}
	if err := atomicfile.WriteFile(s.path, buf.Bytes(), 0o600); err != nil {
		return err
	}
	s.seedMu.Lock()
	m := s.marker
	s.seedMu.Unlock()
	if m != nil {
		if err := writeMarker(s.dir, m); err != nil {
			return err
		}
	}
	db, fi, err := openDB(s.dir, s.path, defaultLockTimeout)
	if err != nil {
		return err
	}
	db.NoSync = false
	old := s.db
	s.db, s.group, s.opened = db, &committer{db: db, check: s.checkFile}, fi
	_ = old.Close() // the unlinked file: its content is in the new one
	return nil
}
