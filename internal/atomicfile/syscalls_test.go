package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// openFDs counts this process's open file descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("listing open descriptors: %v", err) // tokend runs on Linux
	}
	return len(ents)
}

// TestWriteFileClosesDescriptors checks that WriteFile and SyncDir, which
// manage their descriptors themselves, close them after successful and
// failed writes alike.
func TestWriteFileClosesDescriptors(t *testing.T) {
	dir := t.TempDir()
	occupied := filepath.Join(dir, "occupied")
	if err := os.MkdirAll(filepath.Join(occupied, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	before := openFDs(t)
	for i := range 50 {
		if err := WriteFile(filepath.Join(dir, "token"), fmt.Appendf(nil, "value-%d", i), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := WriteFile(occupied, []byte("x"), 0o600); err == nil { // fails at the rename
			t.Fatal("WriteFile onto a non-empty directory succeeded")
		}
		if err := SyncDir(dir); err != nil {
			t.Fatal(err)
		}
	}
	if after := openFDs(t); after > before {
		t.Errorf("%d descriptors open after 150 writes and fsyncs, %d before", after, before)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "token")); err != nil || string(got) != "value-49" {
		t.Errorf("token = %q, %v; want value-49", got, err)
	}
	if names := dirEntries(t, dir); len(names) != 2 {
		t.Errorf("directory holds %v; want [occupied token]", names)
	}
}

// TestWriteFileErrorsKeepTheirShape checks that errors still unwrap to the
// *fs.PathError and errno a caller may test for, as with the os package.
func TestWriteFileErrorsKeepTheirShape(t *testing.T) {
	err := SyncDir(filepath.Join(t.TempDir(), "missing"))
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Op != "open" || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SyncDir of a missing directory: %v; want an open *fs.PathError wrapping fs.ErrNotExist", err)
	}
	err = WriteFile(filepath.Join(t.TempDir(), "missing", "token"), []byte("x"), 0o600)
	if !errors.As(err, &pe) || pe.Op != "createtemp" || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("WriteFile into a missing directory: %v; want a createtemp *fs.PathError wrapping fs.ErrNotExist", err)
	}
}

// writeFileOS is writeFile as it was before issue 17, through os.File and
// os.Rename: the reference BenchmarkWriteFile compares against.
func writeFileOS(path string, data []byte, perm fs.FileMode) error {
	dir, base := filepath.Split(path)
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// BenchmarkWriteFile compares WriteFile with the os-based reference in the
// same run. Use a tmpfs directory (TMPDIR=/dev/shm) to see the system calls'
// CPU rather than the disk's fsync latency.
//
//	TMPDIR=/dev/shm go test -run '^$' -bench BenchmarkWriteFile -count 6 ./internal/atomicfile/
func BenchmarkWriteFile(b *testing.B) {
	data := []byte(`{"access_token":"at-0123456789abcdef0123456789abcdef","token_type":"Bearer"}` + "\n")
	for _, impl := range []struct {
		name  string
		write func(string, []byte, fs.FileMode) error
	}{{"os", writeFileOS}, {"raw", WriteFile}} {
		b.Run(impl.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "token.json")
			b.ReportAllocs()
			for b.Loop() {
				if err := impl.write(path, data, 0o600); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
