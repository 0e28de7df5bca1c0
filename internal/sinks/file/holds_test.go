package file

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestHoldsOnlyARegularFileWithTheBytes: holds says yes for a regular file
// with exactly the bytes and the mode, and no for a symlink to such a file,
// a FIFO (without blocking), the same size with other bytes, a longer or
// shorter file, another mode, a directory and a missing path.
func TestHoldsOnlyARegularFileWithTheBytes(t *testing.T) {
	dir := t.TempDir()
	data := []byte(`{"access_token":"x"}` + "\n")
	s := &Sink{mode: 0o600}
	write := func(name string, b []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	same := write("same", data, 0o600)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(same, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	other := bytes.Clone(data)
	other[3] = 'A'
	for _, c := range []struct {
		path string
		want bool
	}{
		{same, true},
		{link, false},
		{fifo, false},
		{write("other", other, 0o600), false},
		{write("longer", append(bytes.Clone(data), ' '), 0o600), false},
		{write("shorter", data[:len(data)-1], 0o600), false},
		{write("mode", data, 0o640), false},
		{dir, false},
		{filepath.Join(dir, "missing"), false},
	} {
		s.path = c.path
		if got := s.holds(data); got != c.want {
			t.Errorf("holds(%s) = %v, want %v", filepath.Base(c.path), got, c.want)
		}
	}
}

// holdsBefore is holds as it was before it read through one descriptor
// (an lstat, then os.ReadFile), kept for BenchmarkHolds.
func holdsBefore(s *Sink, data []byte) bool {
	fi, err := os.Lstat(s.path)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != s.mode || fi.Size() != int64(len(data)) {
		return false
	}
	old, err := os.ReadFile(s.path)
	return err == nil && bytes.Equal(old, data)
}

// BenchmarkHolds is the start-up check of one sink that already holds its
// token, before (lstat + os.ReadFile) and now (one descriptor).
func BenchmarkHolds(b *testing.B) {
	path := filepath.Join(b.TempDir(), "tok.json")
	data := []byte(`{"access_token":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjMDAwMDAwIn0.c2lnbmF0dXJl","token_type":"Bearer","expires_at":"2030-01-02T03:04:05Z"}` + "\n")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.Fatal(err)
	}
	s := &Sink{path: path, mode: 0o600}
	for _, c := range []struct {
		name  string
		holds func([]byte) bool
	}{{"before", func(d []byte) bool { return holdsBefore(s, d) }}, {"now", s.holds}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !c.holds(data) {
					b.Fatal("holds said no")
				}
			}
		})
	}
}
