package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// preflightConfig writes a config whose state dir is dir/state (not created),
// whose secret is read from secretFile and whose sinks write into sinkDir, an
// env-file there too and a hook running hook.
func preflightConfig(t *testing.T, dir, name, secretFile, sinkDir, hook string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	text := fmt.Sprintf(`[state]
dir = %q

[[credential]]
name = "app"
grant = "client_credentials"
token_url = "https://idp.example/token"
client_id = "app"
client_secret_file = %q

  [[credential.sink]]
  type = "file"
  path = %q
  on_change = [%q, "reload"]

  [[credential.sink]]
  type = "envfile"
  path = %q
  var = "APP_TOKEN"
`, filepath.Join(dir, "state"), secretFile, filepath.Join(sinkDir, "app.token"), hook, filepath.Join(sinkDir, "tokens.env"))
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestValidateRunsRunsPreflight (issue 14 item 2): validate refuses what run
// refuses — a missing sink directory, a missing secret file, a hook program
// not on PATH — every one in one report, creates nothing (no state dir, no
// probe or sink file), and --offline checks the file alone.
func TestValidateRunsRunsPreflight(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sinkDir := filepath.Join(dir, "run")
	if err := os.Mkdir(sinkDir, 0o700); err != nil {
		t.Fatal(err)
	}
	good := preflightConfig(t, dir, "good.toml", secretFile, sinkDir, "true")
	if code, out, stderr := run("validate", "-c", good); code != 0 || !strings.Contains(out, "OK (1 credentials)") {
		t.Fatalf("valid config on a ready machine: exit %d %q %q", code, out, stderr)
	}
	for _, d := range []string{dir, sinkDir} {
		if entries, _ := os.ReadDir(d); len(entries) != map[string]int{dir: 3, sinkDir: 0}[d] {
			t.Errorf("validate left files in %s: %v", d, entries)
		}
	}

	bad := preflightConfig(t, dir, "bad.toml", filepath.Join(dir, "missing-secret"), filepath.Join(dir, "missing-dir"), "no-such-hook-program")
	code, out, stderr := run("validate", "-c", bad)
	if code != 1 || out != "" {
		t.Fatalf("validate with missing paths: exit %d %q", code, out)
	}
	for _, want := range []string{
		"tokend run would not start",
		`credential "app": client secret: reading ` + filepath.Join(dir, "missing-secret"),
		`credential "app": sink[1]: file sink ` + filepath.Join(dir, "missing-dir", "app.token") + ": directory " + filepath.Join(dir, "missing-dir") + " does not exist",
		`credential "app": sink[2]: env-file ` + filepath.Join(dir, "missing-dir", "tokens.env") + ": directory " + filepath.Join(dir, "missing-dir") + " does not exist",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("validate report lacks %q:\n%s", want, stderr)
		}
	}
	// The hook is checked too, on a sink whose directory exists.
	hookless := preflightConfig(t, dir, "hookless.toml", secretFile, sinkDir, "no-such-hook-program")
	if code, _, stderr := run("validate", "-c", hookless); code != 1 || !strings.Contains(stderr, `change hook "no-such-hook-program"`) {
		t.Errorf("validate with a missing hook program: exit %d %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); !os.IsNotExist(err) {
		t.Errorf("validate created the state dir: %v", err)
	}

	code, out, stderr = run("validate", "--offline", "-c", bad)
	if code != 0 || !strings.Contains(out, "OK (1 credentials); config only (--offline)") || !strings.Contains(stderr, "warning: secrets cannot be read here") {
		t.Errorf("validate --offline: exit %d %q %q", code, out, stderr)
	}
}

// TestValidateReadsIncludedFiles: validate checks the files the include
// patterns match, names them when all is well, and names the included
// file and its line in a problem.
func TestValidateReadsIncludedFiles(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "tokend.toml")
	if err := os.WriteFile(main, []byte(fmt.Sprintf("include = [\"conf.d/*.toml\"]\n\n[state]\ndir = %q\n", filepath.Join(dir, "state"))), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "conf.d"), 0o700); err != nil {
		t.Fatal(err)
	}
	a := filepath.Join(dir, "conf.d", "a.toml")
	if err := os.WriteFile(a, []byte(fmt.Sprintf(`[[credential]]
name = "a"
grant = "client_credentials"
token_url = "https://idp.example/token"
client_id = "a"
client_secret_env = "TOKEND_TEST_UNSET_SECRET"

  [[credential.sink]]
  type = "file"
  path = %q
`, filepath.Join(dir, "a.token"))), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := run("validate", "--offline", "-c", main)
	if code != 0 || !strings.Contains(out, main+": OK (1 credentials); included: "+a+"; config only (--offline)") {
		t.Fatalf("validate: exit %d %q %q", code, out, stderr)
	}
	b := filepath.Join(dir, "conf.d", "b.toml")
	if err := os.WriteFile(b, []byte("[[credential]]\nname = \"a\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = run("validate", "--offline", "-c", main)
	if code != 1 || out != "" || !strings.Contains(stderr, b+`:2: credential "a": name: is used by more than one credential (also at `+a+":2)") ||
		!strings.Contains(stderr, b+`:1: credential "a": token_url: is required`) {
		t.Fatalf("validate with a duplicate in conf.d/b.toml: exit %d %q", code, stderr)
	}
}
