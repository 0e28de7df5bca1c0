package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStatusWebRefusesANonLoopbackAddress: the page proxy is for the
// operator at this machine (the full path, daemon to browser, is
// interop/statuspage's test).
func TestStatusWebRefusesANonLoopbackAddress(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "tokend.toml")
	if err := os.WriteFile(cfg, []byte("[state]\ndir = \"/nonexistent\"\n[status]\nlisten = \"127.0.0.1:1\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run("status", "--web", "--web-listen", "0.0.0.0:0", "--config", cfg)
	if code != exitError || stdout != "" || !strings.Contains(stderr, "only a loopback address is allowed") {
		t.Fatalf("status --web on 0.0.0.0: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
