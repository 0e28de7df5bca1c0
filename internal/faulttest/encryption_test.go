package faulttest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/daemon"
	"github.com/tokend/tokend/internal/fakeprovider"
	"github.com/tokend/tokend/internal/logging"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/syncbuf"
)

// TestEncryptedStateThroughDaemon runs a daemon with [state]
// encryption_key_file: the database file then holds neither the rotated
// refresh token nor the access token, and a daemon started with another key
// refuses with an error naming the credential.
func TestEncryptedStateThroughDaemon(t *testing.T) {
	dir := t.TempDir()
	p, err := fakeprovider.New(fakeprovider.Options{AccessTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	p.AddClient("app", "app-secret-e1")
	base, err := p.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Close() }()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	write("app.rt", p.IssueRefreshToken("app", "read")+"\n")
	key := write("state.key", strings.Repeat("ab", 32)+"\n")
	write("other.key", strings.Repeat("cd", 32)+"\n")
	cfgText := fmt.Sprintf(`[state]
dir = %[1]q
encryption_key_file = %[2]q

[[credential]]
name = "app"
token_url = %[3]q
client_id = "app"
client_secret = "app-secret-e1"
refresh_token_file = %[4]q
  [[credential.sink]]
  type = "file"
  path = %[5]q
`, filepath.Join(dir, "state"), key, base+"/token", filepath.Join(dir, "app.rt"), filepath.Join(dir, "app.token"))
	cfgFn := write("tokend.toml", cfgText)
	cfg, err := config.Load(cfgFn)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.ResolveSecrets(); err != nil {
		t.Fatal(err)
	}
	log, _ := logging.New(&syncbuf.Buffer{}, "info")
	d, err := daemon.New(cfg, log, scheduler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	stop := sync.OnceFunc(func() { cancel(); <-done })
	defer stop()
	waitFor(t, "a rotation", func() bool { return len(d.Snapshot()) == 1 && d.Snapshot()[0].Generation == 1 })
	stop()
	db, err := os.ReadFile(filepath.Join(dir, "state", "tokend.db"))
	if err != nil {
		t.Fatal(err)
	}
	at, _ := os.ReadFile(filepath.Join(dir, "app.token"))
	live := p.CurrentRefreshToken("app")
	if len(live) != 1 || len(at) == 0 {
		t.Fatalf("provider has %d live refresh tokens, sink %d bytes", len(live), len(at))
	}
	if bytes.Contains(db, []byte(live[0])) || bytes.Contains(db, at) {
		t.Fatal("the encrypted state file holds a token")
	}

	other := write("other.toml", strings.Replace(cfgText, key, filepath.Join(dir, "other.key"), 1))
	cfg, err = config.Load(other)
	if err != nil {
		t.Fatal(err)
	}
	_ = cfg.ResolveSecrets()
	d, err = daemon.New(cfg, log, scheduler.Options{})
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err = d.Run(ctx)
	}
	if err == nil || !strings.Contains(err.Error(), `"app"`) || !strings.Contains(err.Error(), "wrong state encryption key") {
		t.Fatalf("daemon with another key: want a refusal naming the credential, got %v", err)
	}
	t.Logf("refused: %v", err)
}
