package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBootstrapRefusesGrantsWithoutOne: authorize and import ask the grant
// table (GrantKind.NeedsBootstrap); a client_credentials credential gets
// its tokens by itself, so both refuse it before reading anything.
func TestBootstrapRefusesGrantsWithoutOne(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tokend.toml")
	body := fmt.Sprintf(`[state]
dir = %q

[[credential]]
name = "svc"
grant = "client_credentials"
token_url = "http://127.0.0.1:1/token"
client_id = "svc"
client_secret = "svc-secret-value"
  [[credential.sink]]
  type = "file"
  path = %q
`, filepath.Join(dir, "state"), filepath.Join(dir, "svc.token"))
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	for cmd, want := range map[string]string{
		"authorize": `tokend authorize: credential "svc" uses client_credentials: it needs no authorization; tokend run obtains its tokens`,
		"import":    `tokend import: credential "svc" uses client_credentials: tokend obtains its tokens by itself`,
	} {
		if code, _, stderr := run(cmd, "--config", cfg, "svc"); code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("%s: exit %d, stderr %q", cmd, code, stderr)
		}
	}
}
