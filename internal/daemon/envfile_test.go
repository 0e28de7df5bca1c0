package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/logging"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/sinks"
	"github.com/tokend/tokend/internal/sinks/envfile"
	"github.com/tokend/tokend/internal/syncbuf"
	"github.com/tokend/tokend/internal/testkit"
)

// TestEnvFileSharedAcrossCredentials: sinks of different credentials that
// name one env-file (even spelled differently) go through one *envfile.File,
// so its writes are serialised and can be coalesced.
func TestEnvFileSharedAcrossCredentials(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens.env")
	spellings := []string{path, filepath.Join(dir, ".", "tokens.env"), filepath.Join(dir, "sub", "..", "tokens.env")}
	bc := newBuildCache(&config.Config{}, nil)
	var built []scheduler.Sink
	for i, p := range spellings {
		sc := config.Sink{Type: "envfile", Options: &envfile.Config{FileKeys: sinks.FileKeys{Path: p, Mode: "0600"}, Var: fmt.Sprintf("T%d", i)}}
		sk, err := buildSink(fmt.Sprintf("cred%d", i), sc, bc)
		if err != nil {
			t.Fatal(err)
		}
		built = append(built, sk)
	}
	f, ok := bc.files[path]
	if len(bc.files) != 1 || !ok {
		t.Fatalf("env-files opened: %d, want 1 for %s", len(bc.files), path)
	}
	for i, sk := range built {
		tok := sinks.Token{Credential: fmt.Sprintf("cred%d", i), AccessToken: secret.New(fmt.Sprintf("v%d", i))}
		if err := sk.Write(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if w := f.Writes(); w != uint64(len(built)) {
		t.Errorf("shared File counted %d writes, want %d (one per sink)", w, len(built))
	}
}

// sinkCounter reports every successful sink write.
type sinkCounter struct{ ok chan string }

func (c sinkCounter) RefreshFinished(string, time.Duration, error) {}
func (c sinkCounter) StatusChanged(scheduler.CredentialStatus)     {}
func (c sinkCounter) SinkWritten(cred, _ string, err error) {
	if err == nil {
		select {
		case c.ok <- cred:
		default: // never block the scheduler
		}
	}
}

// TestSharedEnvFileBurstEndToEnd: more credentials than max_concurrent share
// one env-file and are all due at start-up; every variable ends in the file
// with an access token the provider accepts.
func TestSharedEnvFileBurstEndToEnd(t *testing.T) {
	const n = 24
	dir := t.TempDir()
	p, base := startProvider(t, time.Hour, "svc", "svc-secret-value")
	envPath := filepath.Join(dir, "tokens.env")
	var b strings.Builder
	fmt.Fprintf(&b, "[state]\ndir = %q\n[scheduler]\nmax_concurrent = 4\n", filepath.Join(dir, "state"))
	for i := range n {
		b.WriteString("\n" + ccCredential(fmt.Sprintf("c%02d", i), "svc", base+"/token"))
		fmt.Fprintf(&b, "  [[credential.sink]]\n  type = \"envfile\"\n  path = %q\n  var = \"C%02d_TOKEN\"\n", envPath, i)
	}
	cfg, err := config.Decode([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.ResolveSecrets(); err != nil {
		t.Fatal(err)
	}
	log, _ := logging.New(&syncbuf.Buffer{}, "info")
	obs := sinkCounter{ok: make(chan string, n)}
	d, err := New(cfg, log, scheduler.Options{Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	timeout := time.After(30 * time.Second)
	for range n {
		select {
		case <-obs.ok:
		case <-timeout:
			t.Fatal("timed out waiting for the sink writes")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	data, err := os.ReadFile(envPath)
	if err != nil {
		t.Fatal(err)
	}
	vars, err := envfile.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(vars) != n {
		t.Errorf("env-file has %d variables, want %d", len(vars), n)
	}
	for i := range n {
		if v := vars[fmt.Sprintf("C%02d_TOKEN", i)]; !p.ActiveAccessToken(v) {
			t.Errorf("C%02d_TOKEN is missing or not an active token", i)
		}
	}
}

// TestReloadKeepsEnvFile: a reload writes an env-file through the File the
// running sinks use (so an old write in flight cannot be overwritten by an
// older copy of the file), drops the variables of removed credentials, and a
// rejected reload leaves the running variables and files as they were.
func TestReloadKeepsEnvFile(t *testing.T) {
	e := newE2E(t, time.Hour)
	e.p.AddClient("new", "new-secret-value")
	d, _, stop := e.start(t)
	defer stop()
	testkit.WaitUntil(t, "both credentials ok", 10*time.Second, allOK(d))
	envPath := filepath.Join(e.dir, "tokens.env")
	f0 := d.share.files[envPath]
	if f0 == nil {
		t.Fatalf("no shared File for %s: %v", envPath, d.share.files)
	}

	// Replace svc (SVC_TOKEN) by "new" (NEW_TOKEN) in the same env-file.
	e.edit(t, func(s string) string {
		return s[:strings.Index(s, "[[credential]]\nname = \"svc\"")] + ccCredential("new", "new", e.url+"/token") + fmt.Sprintf(`  [[credential.sink]]
  type = "envfile"
  path = %q
  var = "NEW_TOKEN"
`, envPath)
	})
	if err := d.Reload(context.Background()); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if d.share.files[envPath] != f0 {
		t.Fatal("the reload opened a second File for the env-file")
	}
	testkit.WaitUntil(t, "NEW_TOKEN written and SVC_TOKEN gone", 10*time.Second, func() bool {
		b, err := os.ReadFile(envPath)
		if err != nil {
			return false
		}
		vars, err := envfile.Parse(b)
		_, svc := vars["SVC_TOKEN"]
		return err == nil && !svc && e.p.ActiveAccessToken(vars["NEW_TOKEN"]) && e.p.ActiveAccessToken(vars["APP_TOKEN"])
	})

	// A reload rejected at build (a sink directory is missing) after it
	// had opened a second env-file.
	otherPath := filepath.Join(e.dir, "other.env")
	e.edit(t, func(s string) string {
		return s + "\n" + ccCredential("other", "new", e.url+"/token") + fmt.Sprintf(`  [[credential.sink]]
  type = "envfile"
  path = %q
  var = "OTHER_TOKEN"
  [[credential.sink]]
  type = "file"
  path = %q
`, otherPath, filepath.Join(e.dir, "missing-dir", "other.json"))
	})
	err := d.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "missing-dir") {
		t.Fatalf("reload with a missing sink directory: %v", err)
	}
	if _, ok := d.share.files[otherPath]; ok || d.share.files[envPath] != f0 {
		t.Fatalf("files after a rejected reload: %v", d.share.files)
	}
	if got := strings.Join(d.share.running[envPath], ","); got != "APP_TOKEN,NEW_TOKEN" {
		t.Fatalf("running variables of %s after a rejected reload: %s", envPath, got)
	}
}
