package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// dirEntries lists the names in dir, so tests can assert that no temp file
// was left behind.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFileContentAndMode(t *testing.T) {
	for _, perm := range []fs.FileMode{0o600, 0o640, 0o400} {
		t.Run(perm.String(), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "token")
			if err := WriteFile(path, []byte("first"), perm); err != nil {
				t.Fatal(err)
			}
			if err := WriteFile(path, []byte("second value"), perm); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "second value" {
				t.Errorf("content = %q, want %q", got, "second value")
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != perm {
				t.Errorf("mode = %v, want %v", fi.Mode().Perm(), perm)
			}
			if names := dirEntries(t, dir); len(names) != 1 || names[0] != "token" {
				t.Errorf("directory holds %v, want only [token]", names)
			}
		})
	}
}

func TestWriteFileModeIgnoresUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "shared")
	if err := WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, want -rw-r--r-- despite umask 077", fi.Mode().Perm())
	}
}

func TestWriteFileEmptyData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty")
	if err := WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || len(got) != 0 {
		t.Fatalf("ReadFile = %q, %v; want empty file", got, err)
	}
}

// TestWriteFileRenameFailureRemovesTemp makes the rename fail after the temp
// file was fully written (the target is a non-empty directory), which works
// even as root, and checks that the temp file is gone and the error names the
// path but not the data.
func TestWriteFileRenameFailureRemovesTemp(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(target, "occupant"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	const data = "s3cr3t-token-value"
	err := WriteFile(target, []byte(data), 0o600)
	if err == nil {
		t.Fatal("WriteFile onto a non-empty directory succeeded")
	}
	if !strings.Contains(err.Error(), target) {
		t.Errorf("error %q does not name the path", err)
	}
	if strings.Contains(err.Error(), data) {
		t.Errorf("error %q contains the data", err)
	}
	if names := dirEntries(t, dir); len(names) != 1 || names[0] != "target" {
		t.Errorf("directory holds %v after failure, want only [target]", names)
	}
}

// TestWriteFileParentIsFile covers a failure before anything is created.
func TestWriteFileParentIsFile(t *testing.T) {
	dir := t.TempDir()
	parent := filepath.Join(dir, "plain")
	if err := os.WriteFile(parent, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(parent, "token")
	err := WriteFile(path, []byte("data"), 0o600)
	if err == nil {
		t.Fatal("WriteFile under a regular file succeeded")
	}
	if !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("error %v is not ENOTDIR", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the path", err)
	}
	if names := dirEntries(t, dir); len(names) != 1 || names[0] != "plain" {
		t.Errorf("directory holds %v, want only [plain]", names)
	}
}

// TestWriteFileUnwritableDir uses a read-only directory, which only stops a
// non-root user; as root it checks another failure instead: a missing
// directory.
func TestWriteFileUnwritableDir(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "ro")
	if os.Geteuid() == 0 {
		target = filepath.Join(dir, "missing")
	} else {
		if err := os.Mkdir(target, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(target, 0o700) })
	}
	err := WriteFile(filepath.Join(target, "token"), []byte("data"), 0o600)
	if err == nil {
		t.Fatal("WriteFile into an unwritable directory succeeded")
	}
	if !errors.Is(err, fs.ErrPermission) && !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v is neither ErrPermission nor ErrNotExist", err)
	}
	if os.Geteuid() != 0 {
		if names := dirEntries(t, target); len(names) != 0 {
			t.Errorf("read-only directory holds %v", names)
		}
	}
}

// TestWriteFileConcurrentReadersSeeWholeVersions runs several writers, each
// rewriting the file with its own large, self-describing versions, while a
// reader checks that every read is one complete version. It is bounded by
// counts, not time.
func TestWriteFileConcurrentReadersSeeWholeVersions(t *testing.T) {
	const (
		writers   = 4
		perWriter = 25
		size      = 64 << 10 // large enough that a torn write would show
	)
	path := filepath.Join(t.TempDir(), "token")
	version := func(w, i int) []byte {
		head := fmt.Sprintf("w%d-v%d:", w, i)
		b := bytes.Repeat([]byte{byte('a' + (w*perWriter+i)%26)}, size)
		copy(b, head)
		return b
	}
	valid := map[string]bool{}
	for w := 0; w < writers; w++ {
		for i := 0; i < perWriter; i++ {
			valid[string(version(w, i))] = true
		}
	}
	initial := version(0, 0)
	if err := WriteFile(path, initial, 0o600); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				if err := WriteFile(path, version(w, i), 0o600); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()

	reads := 0
	for stop := false; !stop && reads < 100000; reads++ {
		select {
		case <-done:
			stop = true // one last read after all writers finished
		default:
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read %d: %v", reads, err)
		}
		if !valid[string(got)] {
			t.Fatalf("read %d saw a partial or unknown version (%d bytes)", reads, len(got))
		}
	}
	<-done
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if reads < 2 {
		t.Errorf("reader ran only %d times", reads)
	}
	if names := dirEntries(t, filepath.Dir(path)); len(names) != 1 {
		t.Errorf("directory holds %v after concurrent writes, want only the target", names)
	}
}

func TestEnsureDir(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "a", "b")
	if err := EnsureDir(dir); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(base, "a"), dir} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, want a 0700 directory", d, fi.Mode())
		}
	}

	// An existing directory keeps its mode.
	existing := filepath.Join(base, "existing")
	if err := os.Mkdir(existing, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(existing, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := EnsureDir(existing); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(existing); fi.Mode().Perm() != 0o755 {
		t.Errorf("existing dir mode changed to %v", fi.Mode().Perm())
	}

	// A regular file in the way is an error naming the path.
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := EnsureDir(filepath.Join(file, "sub"))
	if err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("EnsureDir under a file: err = %v, want an error naming %s", err, file)
	}
}

func TestCheckDirWritable(t *testing.T) {
	base := t.TempDir()
	if err := CheckDirWritable(base); err != nil {
		t.Fatalf("writable dir: %v", err)
	}
	if names := dirEntries(t, base); len(names) != 0 {
		t.Errorf("probe left %v behind", names)
	}

	missing := filepath.Join(base, "missing")
	err := CheckDirWritable(missing)
	if err == nil || err.Error() != "directory "+missing+" does not exist" {
		t.Errorf("missing dir: err = %v", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing dir: %v does not unwrap to fs.ErrNotExist", err)
	}

	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err = CheckDirWritable(file)
	if err == nil || err.Error() != file+" is not a directory" {
		t.Errorf("file as dir: err = %v", err)
	}

	if os.Geteuid() != 0 {
		ro := filepath.Join(base, "ro")
		if err := os.Mkdir(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(ro, 0o700) })
		err = CheckDirWritable(ro)
		want := "directory " + ro + " is not writable: permission denied"
		if err == nil || err.Error() != want || !errors.Is(err, fs.ErrPermission) {
			t.Errorf("read-only dir: err = %v, want %q", err, want)
		}
	} else {
		// Permission bits do not stop root; a path through a regular file
		// is a failure we can still provoke.
		err = CheckDirWritable(filepath.Join(file, "sub"))
		if err == nil || !strings.Contains(err.Error(), file) {
			t.Errorf("dir under a file: err = %v", err)
		}
	}
}
