package powercut

import (
	"os"
	"path/filepath"
	"testing"
)

// TestVolatileFSModel checks the durability model on its own: without an
// fsync nothing survives a cut; file fsync keeps data, directory fsync keeps
// entries; a rename over an old file is undone without the directory fsync.
func TestVolatileFSModel(t *testing.T) {
	mnt := t.TempDir()
	v, err := NewVolatileFS(t.TempDir(), mnt)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Mount(); err != nil {
		t.Fatalf("mounting the volatile file system: %v", err)
	}
	t.Cleanup(func() { _ = v.Close() })
	write := func(name, s string, syncFile bool) {
		t.Helper()
		f, err := os.Create(filepath.Join(mnt, name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
		if syncFile {
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	syncDir := func() {
		t.Helper()
		d, err := os.Open(mnt)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Sync(); err != nil {
			t.Fatal(err)
		}
		_ = d.Close()
	}
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(mnt, name))
		if os.IsNotExist(err) {
			return "<missing>"
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	cut := func() {
		t.Helper()
		if err := v.PowerCut(); err != nil {
			t.Fatal(err)
		}
		if err := v.Mount(); err != nil {
			t.Fatal(err)
		}
	}
	write("c", "entry synced, data not", false)
	write("d", "both synced", true)
	syncDir()
	write("a", "data synced, entry not", true)
	if err := os.Remove(filepath.Join(mnt, "d")); err != nil { // an unlink never synced
		t.Fatal(err)
	}
	if got := read("a"); got != "data synced, entry not" {
		t.Fatalf("before the cut: a = %q", got)
	}
	cut()
	for name, want := range map[string]string{"a": "<missing>", "c": "", "d": "both synced"} {
		if got := read(name); got != want {
			t.Errorf("after a cut %s = %q, want %q", name, got, want)
		}
	}
	// atomic replace: temp, fsync, rename; without the directory fsync the
	// old content must come back, with it the new.
	write("d.tmp", "new", true)
	if err := os.Rename(filepath.Join(mnt, "d.tmp"), filepath.Join(mnt, "d")); err != nil {
		t.Fatal(err)
	}
	write("e", "not durable", false)
	cut()
	if got := read("d"); got != "both synced" {
		t.Errorf("rename without directory fsync: d = %q, want the old content", got)
	}
	if got := read("e"); got != "<missing>" {
		t.Errorf("e = %q, want missing", got)
	}
	write("d.tmp", "new", true)
	if err := os.Rename(filepath.Join(mnt, "d.tmp"), filepath.Join(mnt, "d")); err != nil {
		t.Fatal(err)
	}
	syncDir()
	cut()
	if got := read("d"); got != "new" {
		t.Errorf("rename with directory fsync: d = %q, want new", got)
	}
	if got := read("d.tmp"); got != "<missing>" {
		t.Errorf("d.tmp = %q after a durable rename", got)
	}
	t.Logf("counts: %+v", v.Counts())
}
