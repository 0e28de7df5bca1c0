package faulttest

import (
	"bytes"
	"context"
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
	"github.com/tokend/tokend/internal/testkit"
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
	cfgText := testkit.Config{
		StateDir:               filepath.Join(dir, "state"),
		StateEncryptionKeyFile: key,
		Credentials: []testkit.Credential{{Name: "app", TokenURL: base + "/token", ClientID: "app",
			ClientSecret: "app-secret-e1", RefreshTokenFile: filepath.Join(dir, "app.rt"),
			Sinks: []testkit.Sink{{Type: "file", Path: filepath.Join(dir, "app.token")}}}},
	}.TOML()
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
	testkit.WaitUntil(t, "a rotation", 15*time.Second, func() bool { return len(d.Snapshot()) == 1 && d.Snapshot()[0].Generation == 1 })
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
