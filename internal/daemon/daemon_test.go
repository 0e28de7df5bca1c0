package daemon

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/fakeprovider"
	"github.com/tokend/tokend/internal/logging"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/sinks/envfile"
	"github.com/tokend/tokend/internal/sinks/file"
	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/syncbuf"
	"github.com/tokend/tokend/internal/testkit"
)

// e2e is a real daemon (bbolt store, file and env-file sinks) against the
// strict fake provider over real HTTP on 127.0.0.1.
type e2e struct {
	dir   string
	p     *fakeprovider.Provider
	url   string
	cfg   *config.Config
	logs  *strings.Builder
	cfgFn string
}

// startProvider starts a strict fake provider on 127.0.0.1 issuing access
// tokens for ttl, with the given clients (id, secret, id, secret, ...), and
// closes it when the test ends. It returns the provider and its base URL.
func startProvider(t *testing.T, ttl time.Duration, clients ...string) (*fakeprovider.Provider, string) {
	t.Helper()
	p, err := fakeprovider.New(fakeprovider.Options{AccessTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(clients); i += 2 {
		p.AddClient(clients[i], clients[i+1])
	}
	base, err := p.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p, base
}

// ccCredential is a client_credentials [[credential]] table (post auth) for
// clientID, whose secret is clientID+"-secret-value"; its sinks follow it.
func ccCredential(name, clientID, tokenURL string) string {
	return testkit.Credential{Name: name, Grant: "client_credentials", TokenURL: tokenURL, ClientID: clientID,
		ClientSecret: clientID + "-secret-value", AuthStyle: "post"}.TOML()
}

func newE2E(t *testing.T, ttl time.Duration) *e2e {
	t.Helper()
	dir := t.TempDir()
	p, base := startProvider(t, ttl, "app", "app-secret-value", "svc", "svc-secret-value")
	rt := p.IssueRefreshToken("app", "read")
	write(t, filepath.Join(dir, "app.rt"), rt+"\n")
	write(t, filepath.Join(dir, "app.secret"), "app-secret-value\n")
	envFile := filepath.Join(dir, "tokens.env")
	toml := testkit.Config{
		StateDir:      filepath.Join(dir, "state"),
		ShutdownGrace: "5s",
		Credentials: []testkit.Credential{
			{Name: "app", TokenURL: base + "/token", ClientID: "app",
				ClientSecretFile: filepath.Join(dir, "app.secret"), RefreshTokenFile: filepath.Join(dir, "app.rt"),
				Sinks: []testkit.Sink{
					{Type: "file", Path: filepath.Join(dir, "app.json"), Format: "json"},
					{Type: "envfile", Path: envFile, Var: "APP_TOKEN"},
				}},
			{Name: "svc", Grant: "client_credentials", TokenURL: base + "/token", ClientID: "svc",
				ClientSecret: "svc-secret-value", AuthStyle: "post",
				Sinks: []testkit.Sink{{Type: "envfile", Path: envFile, Var: "SVC_TOKEN"}}},
		},
	}.TOML()
	cfgFn := filepath.Join(dir, "tokend.toml")
	write(t, cfgFn, toml)
	return &e2e{dir: dir, p: p, url: base, cfgFn: cfgFn}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (e *e2e) start(t *testing.T) (*Daemon, *syncbuf.Buffer, func()) {
	t.Helper()
	cfg, err := config.Load(e.cfgFn)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.ResolveSecrets(); err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	log, _ := logging.New(logs, "debug")
	d, err := New(cfg, log, scheduler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	return d, logs, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func TestEndToEndRotationsSinksAndRestart(t *testing.T) {
	e := newE2E(t, 3*time.Second)
	d, logs, stop := e.start(t)
	testkit.WaitUntil(t, "3 rotations", 20*time.Second, func() bool { return e.p.Stats().Refreshes >= 3 })
	stop()
	st := e.p.Stats()
	if st.Reuses != 0 {
		t.Fatalf("refresh token reused %d times", st.Reuses)
	}
	// The file sink holds the newest access token, which the provider accepts.
	var js struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresAt   string `json:"expires_at"`
	}
	b, err := os.ReadFile(filepath.Join(e.dir, "app.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &js); err != nil || !e.p.ActiveAccessToken(js.AccessToken) || js.ExpiresAt == "" {
		t.Fatalf("file sink %s: err %v active %v", b, err, e.p.ActiveAccessToken(js.AccessToken))
	}
	env, err := os.ReadFile(filepath.Join(e.dir, "tokens.env"))
	if err != nil {
		t.Fatal(err)
	}
	vars, err := envfile.Parse(env)
	if err != nil || !e.p.ActiveAccessToken(vars["SVC_TOKEN"]) || vars["APP_TOKEN"] != js.AccessToken {
		t.Fatalf("env-file %q: %v", env, err)
	}
	for _, fn := range []string{"app.json", "tokens.env", "state/tokend.db"} {
		fi, err := os.Stat(filepath.Join(e.dir, fn))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v err %v", fn, fi.Mode(), err)
		}
	}
	// The stored refresh token is the provider's live one.
	store, err := state.Open(filepath.Join(e.dir, "state"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := store.Load(context.Background(), "app")
	_ = store.Close()
	live := e.p.CurrentRefreshToken("app")
	if err != nil || len(live) != 1 || rec.RefreshToken.Reveal() != live[0] || rec.Intent != nil {
		t.Fatalf("stored refresh token is not the provider's live one (err %v, live %d)", err, len(live))
	}
	// No token or secret in the logs.
	for _, v := range append(append(e.p.IssuedRefreshTokens(), js.AccessToken, vars["SVC_TOKEN"]), "app-secret-value", "svc-secret-value") {
		if strings.Contains(logs.String(), v) {
			t.Fatal("a token or secret appears in the logs")
		}
	}
	// Restart: a valid stored token is not refreshed at start-up, and the
	// daemon resumes from the stored (rotated) refresh token, not the file.
	before := e.p.Stats().Refreshes
	d, _, stop = e.start(t)
	time.Sleep(200 * time.Millisecond)
	if got := d.Scheduler().Snapshot()[0]; got.Status != state.StatusOK {
		t.Fatalf("after restart: %+v", got)
	}
	if e.p.Stats().Refreshes != before {
		t.Fatal("a valid stored token was refreshed at start-up")
	}
	testkit.WaitUntil(t, "a rotation after restart", 10*time.Second, func() bool { return e.p.Stats().Refreshes > before })
	stop()
	if e.p.Stats().Reuses != 0 {
		t.Fatal("reuse after restart")
	}
}

func TestSecondDaemonRefusesSameStateDir(t *testing.T) {
	e := newE2E(t, time.Minute)
	_, _, stop := e.start(t)
	defer stop()
	cfg, err := config.Load(e.cfgFn)
	if err != nil {
		t.Fatal(err)
	}
	_ = cfg.ResolveSecrets()
	log, _ := logging.New(&syncbuf.Buffer{}, "info")
	_, err = New(cfg, log, scheduler.Options{})
	if err == nil || !strings.Contains(err.Error(), "in use by another tokend") {
		t.Fatalf("second daemon: %v", err)
	}
}

func TestMissingSinkDirectoryFailsAtStart(t *testing.T) {
	e := newE2E(t, time.Minute)
	cfg, err := config.Load(e.cfgFn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Credentials[0].Sinks[0].Options.(*file.Config).Path = filepath.Join(e.dir, "nope", "app.json")
	log, _ := logging.New(&syncbuf.Buffer{}, "info")
	_, err = New(cfg, log, scheduler.Options{})
	if err == nil || !strings.Contains(err.Error(), `credential "app"`) || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("missing sink dir: %v", err)
	}
}
