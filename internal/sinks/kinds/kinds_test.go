package kinds

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/tokend/tokend/internal/sinks"
	"github.com/tokend/tokend/internal/sinks/file"
)

// TestTableEntriesAreConsistent: what a kind declares matches its options.
func TestTableEntriesAreConsistent(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range All() {
		if k.Name == "" || seen[k.Name] || k.New == nil || k.Build == nil {
			t.Fatalf("bad entry %+v", k)
		}
		seen[k.Name] = true
		if got, ok := Lookup(k.Name); !ok || got.Name != k.Name {
			t.Errorf("Lookup(%q) = %v", k.Name, ok)
		}
		if a, b := k.New(), k.New(); a == nil || a == b {
			t.Errorf("%s: New must return fresh options", k.Name)
		}
		keys := k.Keys()
		if len(keys) == 0 || slices.Contains(keys, "type") || slices.Contains(keys, "on_change") {
			t.Errorf("%s: keys %q (type and on_change belong to config.Sink)", k.Name, keys)
		}
		if fileLike := k.File != NoFile; fileLike != (slices.Contains(keys, "path") && slices.Contains(keys, "mode")) {
			t.Errorf("%s: File = %d but keys %q", k.Name, k.File, keys)
		}
		if (k.File == SharedFile) != (k.PartKey != "") || (k.PartKey != "" && !slices.Contains(keys, k.PartKey)) {
			t.Errorf("%s: PartKey %q with File = %d and keys %q", k.Name, k.PartKey, k.File, keys)
		}
	}
	if _, ok := Lookup("ftp"); ok {
		t.Fatal("unknown kind found")
	}
	if got := Names("or", false); got != "file, envfile, template or vault" {
		t.Errorf("Names = %q", got)
	}
	if got := Names("and", true); got != "file, envfile and template" {
		t.Errorf("file kinds = %q", got)
	}
}

// TestBuildFailureIsNilSink: a kind whose start-up check fails returns a nil
// Sink, not a typed nil.
func TestBuildFailureIsNilSink(t *testing.T) {
	k, _ := Lookup("file")
	o := &file.Config{FileKeys: sinks.FileKeys{Path: filepath.Join(t.TempDir(), "missing", "t")}}
	o.Defaults()
	sk, err := k.Build(o, Env{})
	if err == nil || sk != nil {
		t.Fatalf("build into a missing directory: %v %v", sk, err)
	}
	o.Path = filepath.Join(t.TempDir(), "t")
	if sk, err = k.Build(o, Env{}); err != nil || sk.String() != "file:"+o.Path {
		t.Fatalf("build: %v %v", sk, err)
	}
}
