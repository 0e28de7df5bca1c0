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
)

// TestEnvFileSharedAcrossCredentials: sinks of different credentials that
// name one env-file (even spelled differently) go through one *envfile.File,
// so its writes are serialised and can be coalesced.
func TestEnvFileSharedAcrossCredentials(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens.env")
	spellings := []string{path, filepath.Join(dir, ".", "tokens.env"), filepath.Join(dir, "sub", "..", "tokens.env")}
	bc := newBuildCache(&config.Config{})
	var built []scheduler.Sink
	for i, p := range spellings {
		sk, err := buildSink(fmt.Sprintf("cred%d", i), config.Sink{Type: "envfile", Path: p, Var: fmt.Sprintf("T%d", i), Mode: "0600"}, bc, hookWiring{})
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
		fmt.Fprintf(&b, `
[[credential]]
name = "c%02d"
grant = "client_credentials"
token_url = %q
client_id = "svc"
client_secret = "svc-secret-value"
auth_style = "post"
  [[credential.sink]]
  type = "envfile"
  path = %q
  var = "C%02d_TOKEN"
`, i, base+"/token", envPath, i)
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
