package daemon

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tokend/tokend/internal/config"
)

func TestBuildCacheChecksEachDirectoryOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sinks")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	bc := newBuildCache(&config.Config{Scheduler: config.Scheduler{MaxConcurrent: 64}}, nil)
	if err := bc.checkDir(dir); err != nil {
		t.Fatal(err)
	}
	// A second sink in the same directory uses the first result: no new probe.
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := bc.checkDir(dir); err != nil {
		t.Fatalf("second check of the same directory probed again: %v", err)
	}
	if err := bc.checkDir(filepath.Join(dir, "other")); err == nil {
		t.Fatal("a missing directory passed the check")
	}
	if bc.http == nil || bc.http.Transport == nil {
		t.Fatal("no shared HTTP client")
	}
}
