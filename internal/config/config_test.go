package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/sinks/file"
)

const good = `
[state]
dir = "/tmp/tokend-test-state"

[[credential]]
name = "apicbase-prod"
grant = "refresh_token"
token_url = "https://api.apicbase.com/oauth/token/"
client_id = "abc"
client_secret_env = "TOKEND_TEST_SECRET"
scopes = ["accounts", "library"]
refresh_token_file = "/etc/tokend/apicbase.rt"
refresh_before = "10m"
schedule = "@every 6h"
params = { audience = "x" }
headers = { "X-Version" = "2" }

  [[credential.sink]]
  type = "file"
  path = "/run/tokend/apicbase.json"
  format = "json"

  [[credential.sink]]
  type = "envfile"
  path = "/run/tokend/tokens.env"
  var = "APICBASE_TOKEN"

[[credential]]
name = "svc"
grant = "client_credentials"
token_url = "http://127.0.0.1:8080/token"
client_id = "svc"
client_secret = "inline-secret-value"
auth_style = "post"

  [[credential.sink]]
  type = "envfile"
  path = "/run/tokend/tokens.env"
  var = "SVC_TOKEN"
`

func TestDecodeGoodAndDefaults(t *testing.T) {
	cfg, err := Decode([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Credentials[0]
	if c.RefreshBefore.Duration != 10*time.Minute || c.AuthStyle != "basic" || c.Body != "form" ||
		c.DefaultLifetime.Duration != time.Hour || c.Sinks[0].Options.(*file.Config).Mode != "0600" || c.Provider != "generic" {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if cfg.Scheduler.MaxConcurrent != DefaultMaxConcurrent || cfg.State.Backend != "file" {
		t.Fatalf("scheduler/state defaults: %+v %+v", cfg.Scheduler, cfg.State)
	}
	t.Setenv("TOKEND_TEST_SECRET", "from-env")
	if err := cfg.ResolveSecrets(); err != nil {
		t.Fatal(err)
	}
	if cfg.Credentials[0].Secret.Reveal() != "from-env" || cfg.Credentials[1].Secret.Reveal() != "inline-secret-value" {
		t.Fatal("secrets not resolved")
	}
}

func TestEveryProblemReportedAtOnce(t *testing.T) {
	bad := `
[state]
dir = "/x"
colour = "blue"

[[credential]]
name = "a"
grant = "password"
token_url = "http://example.com/token"
client_id = ""
client_secret = "s"
client_secret_file = "/f"
refresh_before = "ten minutes"
schedule = "every tuesday"
tpyo = 1

  [[credential.sink]]
  type = "envfile"
  path = "/run/x.env"
  var = "1BAD"

  [[credential.sink]]
  type = "ftp"
  path = "/run/y"

[[credential]]
name = "a"
token_url = "https://ok.example/token"
client_id = "c"
auth_style = "none"

  [[credential.sink]]
  type = "file"
  path = "/run/x.env"
  format = "xml"
`
	_, err := Decode([]byte(bad))
	if err == nil {
		t.Fatal("bad config accepted")
	}
	msg := err.Error() // the bad duration hides nothing (issue 14 item 3)
	for _, want := range []string{
		`line 4: state.colour: unknown key`,
		`line 15: credential "a": tpyo: unknown key`,
		`line 13: credential "a": refresh_before: invalid duration "ten minutes"`,
		`credential "a": grant: unknown grant "password"`,
		`credential "a": client_id: is required`,
		"set only one of client_secret",
		`credential "a": schedule: invalid schedule`,
		`credential "a": sink[1].var: "1BAD" is not a valid variable name`,
		`unknown sink type "ftp"`,
		`credential "a": name: is used by more than one credential`,
		`unknown format "xml"`,
		"/run/x.env is already used by a envfile sink",
		"http://", // plain http to a non-loopback host
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing problem %q in:\n%s", want, msg)
		}
	}
}

func TestBadDurationNamesKey(t *testing.T) {
	_, err := Decode([]byte(strings.Replace(good, `refresh_before = "10m"`, `refresh_before = "soon"`, 1)))
	if err == nil || !strings.Contains(err.Error(), "refresh_before") || !strings.Contains(err.Error(), "invalid duration") {
		t.Fatalf("err = %v", err)
	}
}

func TestSyntaxErrorHasLine(t *testing.T) {
	_, err := Decode([]byte("[state]\ndir = \n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("err = %v", err)
	}
}

func TestSecretSources(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "secret")
	if err := os.WriteFile(f, []byte("file-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgText := strings.Replace(good, `client_secret_env = "TOKEND_TEST_SECRET"`, `client_secret_file = "`+f+`"`, 1)
	cfg, err := Decode([]byte(cfgText))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.ResolveSecrets(); err != nil || cfg.Credentials[0].Secret.Reveal() != "file-secret" {
		t.Fatalf("file secret: %v", err)
	}
	cfg, _ = Decode([]byte(strings.Replace(cfgText, f, filepath.Join(dir, "missing"), 1)))
	err = cfg.ResolveSecrets()
	if err == nil || !strings.Contains(err.Error(), `credential "apicbase-prod"`) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing secret file: %v", err)
	}
	cfg, _ = Decode([]byte(good))
	os.Unsetenv("TOKEND_TEST_SECRET")
	if err := cfg.ResolveSecrets(); err == nil || !strings.Contains(err.Error(), "TOKEND_TEST_SECRET is not set") {
		t.Fatalf("unset env: %v", err)
	}
}

func TestInlineSecretWarning(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tokend.toml")
	if err := os.WriteFile(p, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], `credential "svc"`) || strings.Contains(cfg.Warnings[0], "inline-secret-value") {
		t.Fatalf("warnings %q", cfg.Warnings)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg, _ = Load(p); len(cfg.Warnings) != 0 {
		t.Fatalf("0600 config warned: %q", cfg.Warnings)
	}
}

func TestShippedExampleValidates(t *testing.T) {
	cfg, err := Load("../../tokend.toml")
	if err != nil {
		t.Fatalf("the shipped tokend.toml does not validate:\n%v", err)
	}
	if len(cfg.Credentials) < 2 {
		t.Fatal("example lost its credentials")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("[state]\ndir = 1\n"))
	f.Add([]byte("[[credential]]\nname = \"\"\n[[credential.sink]]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Decode(data)
		if err == nil && len(cfg.Credentials) == 0 {
			t.Fatal("a config without credentials was accepted")
		}
		// Only a value given to secret keys is a secret: a credential named
		// "inline-secret-value" is rightly named in errors (found by fuzzing).
		n := strings.Count(string(data), "inline-secret-value")
		if err != nil && strings.Contains(err.Error(), "inline-secret-value") && n == len(secretAssign.FindAll(data, -1)) {
			t.Fatal("an error echoed a secret")
		}
	})
}

// secretAssign matches "inline-secret-value" assigned to a secret key.
var secretAssign = regexp.MustCompile(`(?i)(secret|token|key|password)[a-z_]*["']?\s*=\s*['"]{1,3}inline-secret-value`)
