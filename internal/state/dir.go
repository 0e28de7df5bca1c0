package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tokend/tokend/internal/atomicfile"
)

// ensureDir makes sure dir exists and is a directory. Directories it creates
// (dir and any missing parents) get mode 0700 regardless of the umask, and
// their entries are fsync'd in their parents so they survive a power cut.
// An existing directory is left exactly as it is.
func ensureDir(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("state path %q exists and is not a directory", dir)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("checking state directory: %w", err)
	}

	// Remember which levels are missing, innermost first, to fix their
	// modes and sync their parents after MkdirAll.
	var created []string
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); err == nil {
			break
		}
		created = append(created, p)
		if filepath.Dir(p) == p {
			break
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating state directory: %w", err)
	}
	for _, p := range created {
		if err := os.Chmod(p, 0o700); err != nil {
			return fmt.Errorf("creating state directory: %w", err)
		}
	}
	// Outermost last: a child's entry is synced before its parent's.
	for _, p := range created {
		if err := atomicfile.SyncDir(filepath.Dir(p)); err != nil {
			return fmt.Errorf("creating state directory: %w", err)
		}
	}
	return nil
}
