package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ExitStoreDamaged is the exit status of `tokend run` (and `tokend store
// check`) when the state store is corrupt, or missing/empty in a directory
// that had one: the daemon does not start and spends no refresh token.
// systemd's unit lists it in RestartPreventExitStatus, so it is not a
// restart loop.
const ExitStoreDamaged = 4

// ErrStoreLost marks a store file that is missing or empty in a directory
// whose marker file says it had a store: starting afresh would present
// refresh tokens the provider has most likely rotated since.
var ErrStoreLost = errors.New("state store is missing or empty, but this directory had one")

// openDB locks, checks and opens the bbolt file at path. The file is opened
// and locked by us first (the same flock bbolt takes: bbolt is then handed
// the locked file), so nobody writes it while checkData reads it; only a file
// that passes the check is given to bbolt, whose open-time page walk runs in
// its own goroutine and panics on any inconsistency. opened is the file's
// identity as locked (for CheckFile). A corrupt file is an error wrapping ErrCorrupt that names the
// file and what to do; a lost one wraps ErrStoreLost.
func openDB(dir, path string, timeout time.Duration) (db *bolt.DB, opened os.FileInfo, err error) {
	mk, mkErr := readMarker(dir)
	if mkErr != nil {
		return nil, nil, mkErr
	}
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) && mk != nil {
		return nil, nil, lostError(dir, path, mk, "missing")
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("opening state store %s: %w", path, err)
	}
	handed := false
	defer func() {
		if !handed {
			_ = f.Close() // also releases the lock
		}
	}()
	if err := lockFile(f, syscall.LOCK_EX, timeout); err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, nil, fmt.Errorf("state directory %q is in use by another tokend (lock on %s): %w (waited %s)",
				dir, path, ErrLocked, timeout)
		}
		return nil, nil, fmt.Errorf("locking state store %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("opening state store %s: %w", path, err)
	}
	switch {
	case fi.Size() == 0 && mk != nil:
		return nil, nil, lostError(dir, path, mk, "empty (0 bytes)")
	case fi.Size() > 0:
		if err := checkData(f, fi.Size()); err != nil {
			return nil, nil, corruptError(dir, path, err)
		}
	}
	handed = true
	db, err = boltOpen(path, f, timeout)
	if err != nil {
		_ = f.Close()
		if errors.Is(err, ErrCorrupt) {
			return nil, nil, corruptError(dir, path, err)
		}
		return nil, nil, fmt.Errorf("opening state store %s: %w", path, err)
	}
	return db, fi, nil
}

// boltOpen runs bolt.Open on the already locked file f. Faults and panics
// raised in this goroutine (a fault in the mmap, a bad slice bound) become
// an error wrapping ErrCorrupt: a last line of defence behind checkData.
func boltOpen(path string, f *os.File, timeout time.Duration) (db *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("%w: reading it failed: %v", ErrCorrupt, r)
		}
	}()
	var used atomic.Bool
	openFile := func(name string, flag int, perm os.FileMode) (*os.File, error) {
		if used.CompareAndSwap(false, true) {
			return f, nil // Open's own call: the file we locked and checked
		}
		return os.OpenFile(name, flag, perm)
	}
	return bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, NoFreelistSync: true, OpenFile: openFile})
}

// lockFile takes flock how (LOCK_EX or LOCK_SH) on f, retrying until timeout;
// it returns bolt.ErrTimeout when the lock stays held.
func lockFile(f *os.File, how int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		if time.Now().After(deadline) {
			return bolt.ErrTimeout
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// corruptError says which file is corrupt, why, and what to do.
func corruptError(dir, path string, cause error) error {
	return fmt.Errorf("state store %s cannot be used: %w; tokend does not start on it and spends no refresh token. "+
		"Run `tokend store check --dir %s` for details, then `tokend store restore --dir %s` to go back to the last backup "+
		"(%s*), or move the file away and re-authorize every credential", path, cause, dir, dir, path+backupInfix)
}

// lostError says the store vanished and how to recover.
func lostError(dir, path string, mk *marker, what string) error {
	return fmt.Errorf("state store %s is %s, but %s records that this directory had a store since %s: %w. "+
		"Starting afresh would present refresh tokens the provider has most likely rotated since (reuse revokes them). "+
		"Put the original file back, or run `tokend store restore --dir %s` to go back to the last backup (%s*); "+
		"to start afresh on purpose, remove %s and give every credential a new refresh token (tokend authorize or import, or a new refresh_token_file)",
		path, what, mk.path, mk.Created.Format(time.RFC3339), ErrStoreLost, dir, path+backupInfix, mk.path)
}

// CheckNotInUse reports, without waiting and without opening the store,
// whether a running tokend holds the store in dir: an error wrapping
// ErrLocked if it does, nil if it does not (or there is no store yet). For
// commands that would change what a running daemon uses (`tokend demo`
// rewrites its config) before they open the store themselves.
func CheckNotInUse(dir string) error {
	path := filepath.Join(dir, dbFileName)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if err := lockFile(f, syscall.LOCK_SH, 0); err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return fmt.Errorf("state store %s is in use by a running tokend: %w", path, ErrLocked)
		}
		return err
	}
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
