package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestCheckDirAccessLeavesNothing: CheckDirAccess agrees with
// CheckDirWritable on a writable, a missing, a non-directory and (when not
// root) a read-only directory, and creates no file in any of them.
func TestCheckDirAccessLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	if err := CheckDirAccess(dir); err != nil {
		t.Fatalf("writable dir: %v", err)
	}
	if err := CheckDirAccess(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) || err.Error() != "directory "+filepath.Join(dir, "missing")+" does not exist" {
		t.Errorf("missing dir: %v", err)
	}
	f := filepath.Join(dir, "f")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := CheckDirAccess(f); err == nil || err.Error() != f+" is not a directory" {
		t.Errorf("file: %v", err)
	}
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		err := CheckDirAccess(ro)
		if !errors.Is(err, fs.ErrPermission) || err.Error() != "directory "+ro+" is not writable: permission denied" {
			t.Errorf("read-only dir: %v", err)
		}
		if (CheckDirWritable(ro) == nil) != (err == nil) {
			t.Errorf("CheckDirWritable disagrees on %s", ro)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("CheckDirAccess left files: %v", entries)
	}
}
