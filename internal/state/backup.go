package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tokend/tokend/internal/atomicfile"
)

// Backups of the store are consistent bbolt copies beside it, named
// tokend.db.backup-<UTC time>; the newest DefaultBackupKeep are kept.
const (
	backupInfix = ".backup-"
	backupStamp = "20060102T150405.000000000Z"
	// DefaultBackupKeep is how many backups Backup keeps.
	DefaultBackupKeep = 3
	// DefaultBackupInterval is how often the daemon takes a backup while it
	// runs (it also takes one at start-up, once the store has opened cleanly).
	DefaultBackupInterval = time.Hour
)

// Backup writes a consistent copy of the store (one read transaction, so a
// snapshot of committed records) to <dir>/tokend.db.backup-<UTC time> with
// the durable-write helper, then removes all but the newest keep backups
// (keep <= 0: DefaultBackupKeep). It returns the new backup's path. Safe to
// call while the store is in use.
func (s *FileStore) Backup(keep int) (string, error) {
	var buf bytes.Buffer
	err := s.run(context.Background(), func(db *bolt.DB) error {
		return db.View(func(tx *bolt.Tx) error { _, err := tx.WriteTo(&buf); return err })
	})
	if err != nil {
		return "", fmt.Errorf("backing up state store %s: %w", s.path, err)
	}
	path := s.path + backupInfix + time.Now().UTC().Format(backupStamp)
	if err := atomicfile.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		return "", fmt.Errorf("backing up state store: %w", err)
	}
	if keep <= 0 {
		keep = DefaultBackupKeep
	}
	all, err := Backups(s.dir)
	if err != nil {
		return path, err
	}
	var errs []error
	for _, old := range all[min(keep, len(all)):] {
		if err := os.Remove(old); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing old backup: %w", err))
		}
	}
	return path, errors.Join(errs...)
}

// Backups lists the store backups in dir, newest first.
func Backups(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing backups: %w", err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), dbFileName+backupInfix) && e.Type().IsRegular() {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(out) // the UTC stamps sort in time order
	slices.Reverse(out)
	return out, nil
}

// CheckFile checks a store file (or a backup) without opening it in bbolt:
// see checkData. A store in use by a running tokend cannot be checked (it
// would be read mid-commit); that is an error wrapping ErrLocked. The
// error for a damaged file wraps ErrCorrupt.
func CheckFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := lockFile(f, syscall.LOCK_SH, defaultLockTimeout); err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return fmt.Errorf("%s is in use by a running tokend (it checked the file when it opened it): %w", path, ErrLocked)
		}
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() == 0 {
		return fmt.Errorf("%w: %s is empty", ErrCorrupt, path)
	}
	return checkData(f, fi.Size())
}

// Restore replaces the store file in dir with from (a backup; "" = the
// newest backup that passes CheckFile). The store must not be in use. from
// is checked first; the current file, if any, is kept aside as
// tokend.db.damaged-<UTC time>, never deleted. The marker is written so
// the restored store is guarded like any other, and records the restore. It returns the path restored from.
func Restore(dir, from string) (string, error) {
	path := filepath.Join(dir, dbFileName)
	if from == "" {
		all, err := Backups(dir)
		if err != nil {
			return "", err
		}
		var errs []error
		for _, b := range all {
			if err := CheckFile(b); err != nil {
				errs = append(errs, err)
				continue
			}
			from = b
			break
		}
		if from == "" {
			return "", errors.Join(append([]error{fmt.Errorf("no usable backup in %s", dir)}, errs...)...)
		}
	} else if err := CheckFile(from); err != nil {
		return "", fmt.Errorf("not restoring from %s: %w", from, err)
	}
	data, err := os.ReadFile(from)
	if err != nil {
		return "", err
	}
	if cur, err := os.OpenFile(path, os.O_RDWR, 0); err == nil {
		defer cur.Close()
		if err := lockFile(cur, syscall.LOCK_EX, defaultLockTimeout); err != nil {
			return "", fmt.Errorf("state store %s is in use by a running tokend; stop it first: %w", path, ErrLocked)
		}
		aside := path + ".damaged-" + time.Now().UTC().Format(backupStamp)
		if err := os.Rename(path, aside); err != nil {
			return "", fmt.Errorf("keeping the current file aside: %w", err)
		}
	}
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return "", err
	}
	mk, err := readMarker(dir)
	if err != nil || mk == nil {
		mk = &marker{Store: dbFileName, Created: time.Now().UTC().Round(0)}
	}
	now := time.Now().UTC().Round(0)
	mk.Restored = &now // seeds recorded before now may be missing from the backup (SeededWith)
	if err := writeMarker(dir, mk); err != nil {
		return from, err
	}
	return from, nil
}
