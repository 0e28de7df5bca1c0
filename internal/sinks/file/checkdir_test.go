package file

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestNewUsesInjectedDirCheck(t *testing.T) {
	dir := t.TempDir()
	var checked []string
	ok := func(d string) error { checked = append(checked, d); return nil }
	if _, err := New(Options{Path: filepath.Join(dir, "a.token"), CheckDir: ok}); err != nil {
		t.Fatal(err)
	}
	if len(checked) != 1 || checked[0] != dir {
		t.Fatalf("CheckDir called with %v; want [%s]", checked, dir)
	}
	boom := errors.New("not writable (injected)")
	_, err := New(Options{Path: filepath.Join(dir, "b.token"), CheckDir: func(string) error { return boom }})
	if !errors.Is(err, boom) {
		t.Fatalf("New error %v; want the CheckDir error wrapped", err)
	}
}
