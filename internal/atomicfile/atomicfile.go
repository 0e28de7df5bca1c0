// Package atomicfile is the one helper tokend uses for every file it owns
// (state, sinks). A reader of a file written here sees either the complete
// old content or the complete new content, never a torn or partial file, and
// after WriteFile returns the new content survives a crash or power loss.
//
// Errors name the path and never the data written.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile atomically replaces path with data: it creates a temp file in the
// same directory (O_EXCL, mode 0600, so nobody else can open it while it is
// being written), chmods it to perm, writes, fsyncs, closes, renames it over
// path and fsyncs the directory so the rename itself is durable. The temp file
// is removed on any error before the rename.
//
// The directory must exist (see EnsureDir). The file's owner is the caller;
// a previous file's owner and mode are not carried over. An error after the
// rename (fsyncing the directory) means path already holds data but its
// durability is not guaranteed.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return writeFile(path, data, perm, SyncDir)
}

// writeFile is WriteFile with the directory fsync done by syncDir.
func writeFile(path string, data []byte, perm fs.FileMode, syncDir func(string) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	// The leading dot hides the temp file from consumers globbing *.json etc.
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: creating temp file: %w", path, err)
	}
	tmpName := tmp.Name()
	renamed := false
	defer func() {
		if renamed {
			return
		}
		_ = tmp.Close() // may already be closed; the error is then ErrClosed
		if rmErr := os.Remove(tmpName); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
			err = errors.Join(err, fmt.Errorf("removing temp file %s: %w", tmpName, rmErr))
		}
	}()

	if err := tmp.Chmod(perm.Perm()); err != nil {
		return fmt.Errorf("writing %s: setting mode %#o: %w", path, perm.Perm(), err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: fsync: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: closing temp file: %w", path, err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("writing %s: replacing file: %w", path, err)
	}
	renamed = true
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// SyncDir fsyncs a directory so that a rename or a new entry in it survives a
// crash. Without it a crash can bring back the previous file, e.g. a refresh
// token the provider has already revoked.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening directory %s for fsync: %w", dir, err)
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	if err := d.Close(); err != nil {
		return fmt.Errorf("closing directory %s: %w", dir, err)
	}
	return nil
}

// EnsureDir creates dir and any missing parents with mode 0700. Existing
// directories are left as they are (their mode is not changed).
func EnsureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating directory %s: %w", dir, err)
	}
	return nil
}

// dirError keeps a start-up message short and readable ("directory /x does
// not exist") while errors.Is still sees the cause (fs.ErrNotExist, ...).
type dirError struct {
	msg string
	err error
}

func (e *dirError) Error() string { return e.msg }
func (e *dirError) Unwrap() error { return e.err }

// CheckDirWritable verifies that dir exists, is a directory and that a file
// can be created in it, by creating and removing a probe temp file. It is
// meant for start-up, so a bad sink path fails at once rather than at the
// first refresh. Errors read "directory /x does not exist", "/x is not a
// directory" or "directory /x is not writable: permission denied", and
// unwrap to the cause (fs.ErrNotExist, fs.ErrPermission, ...).
func CheckDirWritable(dir string) error {
	if err := statDir(dir); err != nil {
		return err
	}
	probe, err := os.CreateTemp(dir, ".tokend-probe-*")
	if err != nil {
		return &dirError{msg: fmt.Sprintf("directory %s is not writable: %v", dir, cause(err)), err: err}
	}
	name := probe.Name()
	closeErr := probe.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("directory %s: removing probe file: %w", dir, err)
	}
	if closeErr != nil {
		return fmt.Errorf("directory %s: closing probe file: %w", dir, closeErr)
	}
	return nil
}

// cause strips the *fs.PathError wrapper (whose message repeats the path)
// and returns the underlying reason, e.g. "permission denied".
func cause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
