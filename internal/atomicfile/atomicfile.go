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
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
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
//
// It speaks to the kernel directly (issue 17: a rotation rewrites every sink
// file): an *os.File for a regular file costs four fcntl calls and a failed
// epoll registration on open, and os.Rename an lstat of the target, none of
// which the write needs. The steps and their order are WriteFile's.
func writeFile(path string, data []byte, perm fs.FileMode, syncDir func(string) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	fd, tmpName, err := createTemp(dir, base)
	if err != nil {
		return fmt.Errorf("writing %s: creating temp file: %w", path, err)
	}
	open, renamed := true, false
	defer func() {
		if renamed {
			return
		}
		if open {
			_ = syscall.Close(fd)
		}
		if rmErr := ignoringEINTR(func() error { return syscall.Unlink(tmpName) }); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
			err = errors.Join(err, fmt.Errorf("removing temp file %s: %w", tmpName, &fs.PathError{Op: "remove", Path: tmpName, Err: rmErr}))
		}
	}()

	if err := ignoringEINTR(func() error { return syscall.Fchmod(fd, uint32(perm.Perm())) }); err != nil {
		return fmt.Errorf("writing %s: setting mode %#o: %w", path, perm.Perm(), &fs.PathError{Op: "chmod", Path: tmpName, Err: err})
	}
	if err := writeAll(fd, data); err != nil {
		return fmt.Errorf("writing %s: %w", path, &fs.PathError{Op: "write", Path: tmpName, Err: err})
	}
	if err := ignoringEINTR(func() error { return syscall.Fsync(fd) }); err != nil {
		return fmt.Errorf("writing %s: fsync: %w", path, &fs.PathError{Op: "sync", Path: tmpName, Err: err})
	}
	open = false
	if err := syscall.Close(fd); err != nil { // never retried: the descriptor is gone either way
		return fmt.Errorf("writing %s: closing temp file: %w", path, &fs.PathError{Op: "close", Path: tmpName, Err: err})
	}
	if err := ignoringEINTR(func() error { return syscall.Rename(tmpName, path) }); err != nil {
		return fmt.Errorf("writing %s: replacing file: %w", path, &os.LinkError{Op: "rename", Old: tmpName, New: path, Err: err})
	}
	renamed = true
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// createTemp creates a new file "<dir>.<base>.tmp-<random>" (the leading dot
// hides it from consumers globbing *.json etc.) with O_EXCL and mode 0600,
// so nobody else can open it while it is being written, like os.CreateTemp.
func createTemp(dir, base string) (int, string, error) {
	prefix := dir + "." + base + ".tmp-"
	for try := 0; ; try++ {
		name := prefix + strconv.FormatUint(uint64(rand.Uint32()), 10)
		var fd int
		err := ignoringEINTR(func() (err error) {
			fd, err = syscall.Open(name, syscall.O_RDWR|syscall.O_CREAT|syscall.O_EXCL|syscall.O_CLOEXEC, 0o600)
			return err
		})
		if err == nil {
			return fd, name, nil
		}
		if errors.Is(err, syscall.EEXIST) && try < 10000 {
			continue
		}
		return -1, "", &fs.PathError{Op: "createtemp", Path: prefix + "*", Err: err} // os.CreateTemp's error
	}
}

// writeAll writes data to fd, continuing after short writes.
func writeAll(fd int, data []byte) error {
	for len(data) > 0 {
		n, err := syscall.Write(fd, data)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		data = data[n:]
	}
	return nil
}

// ignoringEINTR retries fn while it is interrupted by a signal (the Go
// runtime's own signals interrupt slow system calls).
func ignoringEINTR(fn func() error) error {
	for {
		err := fn()
		if err != syscall.EINTR {
			return err
		}
	}
}

// SyncDir fsyncs a directory so that a rename or a new entry in it survives a
// crash. Without it a crash can bring back the previous file, e.g. a refresh
// token the provider has already revoked.
func SyncDir(dir string) error {
	var fd int
	err := ignoringEINTR(func() (err error) {
		fd, err = syscall.Open(dir, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return fmt.Errorf("opening directory %s for fsync: %w", dir, &fs.PathError{Op: "open", Path: dir, Err: err})
	}
	if err := ignoringEINTR(func() error { return syscall.Fsync(fd) }); err != nil {
		_ = syscall.Close(fd)
		return fmt.Errorf("fsync directory %s: %w", dir, &fs.PathError{Op: "sync", Path: dir, Err: err})
	}
	if err := syscall.Close(fd); err != nil {
		return fmt.Errorf("closing directory %s: %w", dir, &fs.PathError{Op: "close", Path: dir, Err: err})
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
