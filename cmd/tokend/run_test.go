package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestRunWordsEachConfigFailure: tokend run says which step of the config
// pipeline failed (invalid config, unreadable secret, discovery) and does not
// start; tokend validate --offline only warns about the secret and never
// discovers.
func TestRunWordsEachConfigFailure(t *testing.T) {
	var asked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { asked.Add(1); http.NotFound(w, r) }))
	defer srv.Close()
	dir := t.TempDir()
	write := func(name, cred string) string {
		p := filepath.Join(dir, name)
		text := fmt.Sprintf("[state]\ndir = %q\n\n[[credential]]\nname = \"app\"\ngrant = \"client_credentials\"\nclient_id = \"app\"\n%s\n"+
			"  [[credential.sink]]\n  type = \"file\"\n  path = %q\n", filepath.Join(dir, "state"), cred, filepath.Join(dir, "app.token"))
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	invalid := write("invalid.toml", "token_url = \"https://idp.example/token\"\nclient_secret = \"s\"\nbogus = 1")
	secret := write("secret.toml", fmt.Sprintf("token_url = \"https://idp.example/token\"\nclient_secret_file = %q", filepath.Join(dir, "missing")))
	discover := write("discover.toml", fmt.Sprintf("issuer = %q\nclient_secret = \"s\"", srv.URL))
	for _, tc := range []struct{ cfg, want string }{
		{invalid, `"invalid config; not starting"`},
		{secret, `"cannot read secrets; not starting"`},
		{discover, `"endpoint discovery failed; not starting"`},
	} {
		code, _, stderr := run("run", "--config", tc.cfg)
		if code != 1 || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "tokend running") {
			t.Errorf("run %s: exit %d, want %s in %q", filepath.Base(tc.cfg), code, tc.want, stderr)
		}
	}
	if asked.Load() == 0 {
		t.Error("run did not ask the issuer")
	}
	asked.Store(0)
	code, out, stderr := run("validate", "--offline", "--config", secret)
	if code != 0 || !strings.Contains(out, "OK (1 credentials)") || !strings.Contains(stderr, "warning: secrets cannot be read here (tokend run would fail):\n") {
		t.Errorf("validate with an unreadable secret: %d %q %q", code, out, stderr)
	}
	if code, _, stderr := run("validate", "--offline", "--config", discover); code != 0 || asked.Load() != 0 {
		t.Errorf("validate with an issuer: exit %d, issuer asked %d times: %q", code, asked.Load(), stderr)
	}
}
