package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestValidateListen(t *testing.T) {
	for _, c := range []struct {
		listen string
		ok     bool
	}{
		{"127.0.0.1:9464", true},
		{"0.0.0.0:9464", true},
		{"[::1]:9464", true},
		{"localhost:9464", true},
		{"127.0.0.1:0", true},
		{"unix:/run/tokend/tokend.sock", true},
		{"", false},
		{"9464", false},
		{":9464", false},
		{"example.com:9464", false},
		{"127.0.0.1:http", false},
		{"127.0.0.1:70000", false},
		{"unix:relative.sock", false},
		{"unix:/run/tokend/", false},
		{"unix:/" + strings.Repeat("x", 120), false},
	} {
		if err := ValidateListen(c.listen); (err == nil) != c.ok {
			t.Errorf("ValidateListen(%q) = %v, want ok=%v", c.listen, err, c.ok)
		}
	}
}

const opsBase = `
[state]
dir = "/tmp/tokend-test-state"

[[credential]]
name = "svc"
grant = "client_credentials"
token_url = "https://auth.example/token"
client_id = "svc"
client_secret_env = "X"

  [[credential.sink]]
  type = "file"
  path = "/run/tokend/svc.token"
`

func TestStatusAndHookKeys(t *testing.T) {
	cfg, err := Decode([]byte(opsBase))
	if err != nil || cfg.Status != nil {
		t.Fatalf("no [status] table must mean off: %+v %v", cfg.Status, err)
	}
	cfg, err = Decode([]byte(opsBase + `  on_change = ["systemctl", "reload", "myapp"]
[status]
listen = "unix:/run/tokend/tokend.sock"
`))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Credentials[0].Sinks[0]
	if cfg.Status.Listen != "unix:/run/tokend/tokend.sock" || len(s.OnChange) != 3 || s.HookTimeout.Duration != DefaultHookTimeout {
		t.Fatalf("status %+v sink %+v", cfg.Status, s)
	}
	if cfg.AdminTokenFile() != "/tmp/tokend-test-state/admin.token" {
		t.Fatalf("admin token file %q", cfg.AdminTokenFile())
	}
	cfg, err = Decode([]byte(opsBase + "  on_change = [\"/bin/true\"]\n  hook_timeout = \"5s\"\n"))
	if err != nil || cfg.Credentials[0].Sinks[0].HookTimeout.Duration != 5*time.Second {
		t.Fatalf("hook_timeout: %v", err)
	}

	_, err = Decode([]byte(strings.Replace(opsBase, `path = "/run/tokend/svc.token"`, `path = "/run/tokend/svc.token"
  hook_timeout = "-1s"
  [[credential.sink]]
  type = "file"
  path = "/run/tokend/a"
  on_change = []
  [[credential.sink]]
  type = "file"
  path = "/run/tokend/b"
  on_change = ["systemctl reload myapp"]
  [[credential.sink]]
  type = "file"
  path = "/run/tokend/c"
  on_change = ["true"]
  hook_timeout = "-1s"`, 1) + "[status]\nlisten = \"example.com:80\"\n"))
	if err == nil {
		t.Fatal("bad hook and status keys accepted")
	}
	for _, want := range []string{
		`sink[0].hook_timeout: is only used with on_change`,
		`sink[1].on_change: needs a program`,
		`sink[2].on_change: "systemctl reload myapp" is one argv element`,
		`sink[3].hook_timeout: must not be negative`,
		`status.listen: host "example.com" must be an IP address`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestHookOnlyOnFileSinks(t *testing.T) {
	errs := Sink{Type: "vault", OnChange: []string{"true"}}.validateHook("k")
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "only supported on file, envfile and template sinks") {
		t.Fatalf("%v", errs)
	}
}

func TestLoadStatusReadsOnlyWhatTheCLINeeds(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tokend.toml")
	// The rest of the file may be mid-edit: only [state] and [status] matter.
	if err := os.WriteFile(p, []byte("[status]\nlisten = \"127.0.0.1:9464\"\n[[credential]]\nname = \"half-written\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	listen, stateDir, err := LoadStatus(p)
	if err != nil || listen != "127.0.0.1:9464" || stateDir != DefaultStateDir {
		t.Fatalf("%q %q %v", listen, stateDir, err)
	}
	if err := os.WriteFile(p, []byte("[state]\ndir = \"/srv/tokend\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadStatus(p); err == nil || !strings.Contains(err.Error(), "no [status] table") {
		t.Fatalf("no [status]: %v", err)
	}
	if err := os.WriteFile(p, []byte("[status]\nlisten = \"nonsense\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadStatus(p); err == nil || !strings.Contains(err.Error(), "status.listen") {
		t.Fatalf("bad listen: %v", err)
	}
	if _, _, err := LoadStatus(filepath.Join(dir, "missing.toml")); err == nil {
		t.Fatal("missing file accepted")
	}
}
