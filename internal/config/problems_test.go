package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// loadProblems writes doc to a file, loads it and returns its problems (one
// per line) and its warnings.
func loadProblems(t *testing.T, doc string) (path string, problems, warnings []string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "tokend.toml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		return path, strings.Split(err.Error(), "\n"), nil
	}
	return path, nil, cfg.Warnings
}

// TestEveryProblemInOneFormat (issue 14 item 3): a bad duration, a value of
// the wrong type in another table, unknown keys and semantic problems all
// come in one run, each as FILE:LINE: credential "NAME": KEY.PATH: what,
// sinks counted from 1, the credential named once, typos with a suggestion.
func TestEveryProblemInOneFormat(t *testing.T) {
	path, got, _ := loadProblems(t, `[scheduler]
max_concurrent = "many"

[[credential]]
name = "svc"
token_url = "http://idp.example/token"
client_id = "id"
client_secret = "s"
refresh_before = "5 minutes"
tokn_url = "x"
  [[credential.sink]]
  type = "file"
  path = "/run/a"
  [[credential.sink]]
  type = "file"
  pth = "/run/b"

[[credential]]
token_url = "https://idp.example/token"
client_id = "id"
  [[credential.sink]]
  type = "file"
  path = "/run/c"
  format = "yaml"
`)
	want := []string{
		path + `:2: scheduler.max_concurrent: incompatible types: TOML value has type string; destination has type integer`,
		path + `:6: credential "svc": token_url: uses http:// to non-loopback host "idp.example"; use https or set allow_insecure_http`,
		path + `:9: credential "svc": refresh_before: invalid duration "5 minutes" (use e.g. "90s", "10m", "1h")`,
		path + `:10: credential "svc": tokn_url: unknown key (did you mean "token_url"?)`,
		path + `:14: credential "svc": sink[2].path: is required`,
		path + `:16: credential "svc": sink[2].pth: unknown key (did you mean "path"?)`,
		path + `:18: credential[2]: name: is required`,
		path + `:18: credential[2]: client_secret_file: a client secret is required with auth_style "basic" (or use auth_style = "none")`,
		path + `:24: credential[2]: sink[1].format: unknown format "yaml" (raw or json)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestProblemFromDecodeWithoutFile: Decode (no file) starts each problem
// with its line; a problem with no line has no prefix.
func TestProblemFromDecodeWithoutFile(t *testing.T) {
	_, err := Decode([]byte("[state]\nbackend = \"s3\"\n"))
	ps := joinedProblems(err)
	if len(ps) != 2 || ps[0].Error() != `line 2: state.backend: unknown backend "s3" (supported: file, vault)` ||
		ps[1].Error() != "credential: no [[credential]] configured" {
		t.Errorf("problems: %v", err)
	}
}

// TestLooseModeAndRelativePathWarnings: a token file that others may read
// or group/others may write, and a relative sink path, are warned about in
// the problems' format; 0600 and 0640 (the consumer's group) are not.
func TestLooseModeAndRelativePathWarnings(t *testing.T) {
	path, problems, got := loadProblems(t, `[[credential]]
name = "svc"
token_url = "https://idp.example/token"
client_id = "id"
client_secret_env = "SVC_SECRET"
  [[credential.sink]]
  type = "file"
  path = "/run/a"
  mode = "0644"
  [[credential.sink]]
  type = "envfile"
  path = "/run/b.env"
  var = "T"
  mode = "0666"
  [[credential.sink]]
  type = "file"
  path = "tokens/c"
  mode = "0640"
  [[credential.sink]]
  type = "file"
  path = "/run/d"
`)
	if problems != nil {
		t.Fatalf("problems: %q", problems)
	}
	want := []string{
		path + `:9: credential "svc": sink[1].mode: 0644 lets every local user read the token; use 0600 (or 0640 to let the consumer's group read it)`,
		path + `:14: credential "svc": sink[2].mode: 0666 lets group or others write the token file; use 0600 (or 0640 to let the consumer's group read it)`,
		path + `:17: credential "svc": sink[3].path: "tokens/c" is relative: it is resolved against the daemon's working directory (/ under systemd); use an absolute path`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"token_url", "client_id", "client_secret", "refresh_before", "path"}
	for key, want := range map[string]string{"tokn_url": "token_url", "client_secert": "client_secret", "pth": "path",
		"refresh_befor": "refresh_before", "colour": "", "zz": ""} {
		if got := suggest(key, keys); got != want {
			t.Errorf("suggest(%q) = %q, want %q", key, got, want)
		}
	}
}

// TestUnknownTableIsOneProblemAtItsHeader: a misspelt table name is reported
// at its header with a suggestion.
func TestUnknownTableIsOneProblemAtItsHeader(t *testing.T) {
	_, err := Decode([]byte("[stat]\ndir = \"/x\"\n"))
	if err == nil || !strings.Contains(err.Error(), `line 1: stat: unknown key (did you mean "state"?)`) {
		t.Errorf("problems: %v", err)
	}
}
