package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/daemon"
	"github.com/tokend/tokend/internal/fakeprovider"
	"github.com/tokend/tokend/internal/logging"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/state/vaultstore"
	"github.com/tokend/tokend/internal/syncbuf"
	"github.com/tokend/tokend/internal/testkit"
	"github.com/tokend/tokend/internal/vaulttest"
)

// vaultBootConfig is a config with the vault state backend and three
// refresh_token credentials (clients "coded", "pasted", "json"), each with a
// file sink in sinkDir; owner names the replica in claims.
func vaultBootConfig(t *testing.T, dir, vaultAddr, tokenFile, base, owner, sinkDir string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `[vault]
address = %q
token_file = %q

[state]
dir = %q
backend = "vault"
prefix = "tokend/boot"
owner = %q
`, vaultAddr, tokenFile, filepath.Join(dir, "state-"+owner), owner)
	for _, name := range []string{"coded", "pasted", "json"} {
		secret := filepath.Join(dir, name+".secret")
		if err := os.WriteFile(secret, []byte(name+"-secret-value\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, `
[[credential]]
name = %[1]q
token_url = "%[2]s/token"
authorize_url = "%[2]s/authorize"
redirect_uri = "http://127.0.0.1:8700/callback"
client_id = %[1]q
client_secret_file = %[3]q
  [[credential.sink]]
  type = "file"
  path = %[4]q
  format = "json"
`, name, base, secret, filepath.Join(sinkDir, name+".json"))
	}
	path := filepath.Join(dir, owner+".toml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// vaultBootRig starts the real Vault and a strict provider with the three
// clients of the bootstrap tests; it returns them, the provider's base URL,
// a temporary directory and a file holding Vault's root token.
func vaultBootRig(t *testing.T) (srv *vaulttest.Server, p *fakeprovider.Provider, base, dir, tokenFile string) {
	t.Helper()
	srv = vaulttest.Start(t)
	p, err := fakeprovider.New(fakeprovider.Options{AccessTTL: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"coded", "pasted", "json"} {
		p.AddClient(c, c+"-secret-value")
	}
	base, err = p.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	dir = t.TempDir()
	tokenFile = filepath.Join(dir, "vault-token")
	if err := os.WriteFile(tokenFile, []byte(srv.RootToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv, p, base, dir, tokenFile
}

// TestVaultBootstrapWithoutDaemon is issue 14 item 4: with the vault state
// backend, `tokend authorize --code` and `tokend import` (a pasted refresh
// token, a token JSON file) write the records straight to Vault while no
// daemon runs; three replicas started afterwards load and refresh them; an
// import while they run is adopted at their next re-check. The strict
// provider sees no refresh token reused.
func TestVaultBootstrapWithoutDaemon(t *testing.T) {
	srv, p, base, dir, tokenFile := vaultBootRig(t)
	opCfg := vaultBootConfig(t, dir, srv.Addr, tokenFile, base, "operator", dir)

	// 1. No daemon runs: authorize with a code obtained elsewhere.
	code := p.IssueAuthorizationCode("coded", "http://127.0.0.1:8700/callback", "")
	var out, errb bytes.Buffer
	if rc := runAuthorize([]string{"coded", "-c", opCfg, "--code", code}, strings.NewReader(""), &out, &errb); rc != 0 {
		t.Fatalf("authorize --code: exit %d\n%s", rc, errb.String())
	}
	if !strings.Contains(errb.String(), `stored tokens for "coded" in the vault state store`) {
		t.Errorf("authorize said:\n%s", errb.String())
	}
	// A pasted refresh token.
	pasted := p.IssueRefreshToken("pasted", "")
	errb.Reset()
	if rc := runImport([]string{"pasted", "-c", opCfg}, strings.NewReader(pasted+"\n"), &out, &errb); rc != 0 {
		t.Fatalf("import: exit %d\n%s", rc, errb.String())
	}
	// A token JSON from a file (obtained by a refresh made by hand).
	jsonFile := filepath.Join(dir, "token.json")
	if err := os.WriteFile(jsonFile, handRefresh(t, base, "json", p.IssueRefreshToken("json", "")), 0o600); err != nil {
		t.Fatal(err)
	}
	errb.Reset()
	if rc := runImport([]string{"json", "-c", opCfg, "--from-file", jsonFile}, strings.NewReader(""), &out, &errb); rc != 0 {
		t.Fatalf("import --from-file: exit %d\n%s", rc, errb.String())
	}
	if s := errb.String(); strings.Contains(s, pasted) {
		t.Fatal("stderr shows the refresh token")
	}
	// The records are in Vault, generation 1, holding the provider's live tokens.
	st, err := vaultstore.Open(context.Background(), vaultstore.Options{Client: srv.TokendClient(srv.RootToken), Mount: "secret", Prefix: "tokend/boot", Owner: "reader"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"coded", "pasted", "json"} {
		rec, err := st.Load(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		live := p.CurrentRefreshToken(c)
		if rec.Generation != 1 || len(live) != 1 || rec.RefreshToken.Reveal() != live[0] {
			t.Fatalf("%s: generation %d, status %s; the stored refresh token is not the live one", c, rec.Generation, rec.Status)
		}
	}
	refreshesBefore := p.Stats().Refreshes

	// 2. Three replicas start and refresh them.
	var stops []func()
	for r := range 3 {
		sinks := filepath.Join(dir, fmt.Sprintf("replica%d", r))
		if err := os.Mkdir(sinks, 0o700); err != nil {
			t.Fatal(err)
		}
		stops = append(stops, startReplica(t, vaultBootConfig(t, dir, srv.Addr, tokenFile, base, fmt.Sprintf("replica%d", r), sinks)))
	}
	testkit.WaitUntil(t, "each credential refreshed 5 times by the replicas", 60*time.Second, func() bool {
		return p.Stats().Refreshes >= refreshesBefore+15
	})

	// 3. Replicas running: a new refresh token for "pasted" (say, a new
	// consent) imported straight to Vault is adopted and spent by them.
	fresh := p.IssueRefreshToken("pasted", "")
	errb.Reset()
	if rc := runImport([]string{"pasted", "-c", opCfg}, strings.NewReader(fresh+"\n"), &out, &errb); rc != 0 {
		t.Fatalf("import while replicas run: exit %d\n%s", rc, errb.String())
	}
	testkit.WaitUntil(t, "the imported refresh token spent by a replica", 30*time.Second, func() bool {
		return slices.Contains(p.Presented(), fresh)
	})
	at := p.Stats().Refreshes
	testkit.WaitUntil(t, "refreshes continue", 30*time.Second, func() bool { return p.Stats().Refreshes >= at+6 })
	for _, stop := range stops {
		stop()
	}
	stats := p.Stats()
	t.Logf("provider: %d refreshes, %d code exchanges, %d reuses, %d rejected", stats.Refreshes, stats.CodeExchanges, stats.Reuses, stats.Rejected)
	if stats.Reuses != 0 || stats.FamiliesRevoked != 0 {
		t.Fatalf("refresh tokens reused %d times (%d families revoked)", stats.Reuses, stats.FamiliesRevoked)
	}
	for _, c := range []string{"coded", "json"} {
		rec, err := st.Load(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		if live := p.CurrentRefreshToken(c); len(live) != 1 || rec.RefreshToken.Reveal() != live[0] || rec.Status != state.StatusOK || rec.Generation < 3 {
			t.Errorf("%s after the run: generation %d, status %s, %d live refresh tokens", c, rec.Generation, rec.Status, len(live))
		}
	}
	// "pasted": the first family stays unused (superseded by the import); the
	// stored token is the live one of the imported family.
	rec, err := st.Load(context.Background(), "pasted")
	if err != nil || !slices.Contains(p.CurrentRefreshToken("pasted"), rec.RefreshToken.Reveal()) || rec.Status != state.StatusOK {
		t.Errorf("pasted after the run: %v %s", err, rec.Status)
	}
}

// TestVaultBootstrapIntoRunningReplicas: three replicas run first, every
// credential in needs_reauth (nothing stored yet, as right after a
// Kubernetes deployment); `tokend authorize --code` and `tokend import`,
// run with no admin API and no port-forward, write to Vault and the replicas
// adopt the records at their next re-check, then refresh them with no reuse.
func TestVaultBootstrapIntoRunningReplicas(t *testing.T) {
	srv, p, base, dir, tokenFile := vaultBootRig(t)
	var stops []func()
	for r := range 3 {
		sinks := filepath.Join(dir, fmt.Sprintf("replica%d", r))
		if err := os.Mkdir(sinks, 0o700); err != nil {
			t.Fatal(err)
		}
		stops = append(stops, startReplica(t, vaultBootConfig(t, dir, srv.Addr, tokenFile, base, fmt.Sprintf("replica%d", r), sinks)))
	}
	time.Sleep(time.Second) // the replicas have found nothing and re-checked at least once
	if s := p.Stats(); s.TokenRequests != 0 {
		t.Fatalf("%d token requests with nothing stored", s.TokenRequests)
	}
	opCfg := vaultBootConfig(t, dir, srv.Addr, tokenFile, base, "operator", dir)
	var out, errb bytes.Buffer
	code := p.IssueAuthorizationCode("coded", "http://127.0.0.1:8700/callback", "")
	if rc := runAuthorize([]string{"coded", "-c", opCfg, "--code", code}, strings.NewReader(""), &out, &errb); rc != 0 {
		t.Fatalf("authorize --code: exit %d\n%s", rc, errb.String())
	}
	if rc := runImport([]string{"pasted", "-c", opCfg}, strings.NewReader(p.IssueRefreshToken("pasted", "")+"\n"), &out, &errb); rc != 0 {
		t.Fatalf("import: exit %d\n%s", rc, errb.String())
	}
	jsonFile := filepath.Join(dir, "token.json")
	if err := os.WriteFile(jsonFile, handRefresh(t, base, "json", p.IssueRefreshToken("json", "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if rc := runImport([]string{"json", "-c", opCfg, "--from-file", jsonFile}, strings.NewReader(""), &out, &errb); rc != 0 {
		t.Fatalf("import --from-file: exit %d\n%s", rc, errb.String())
	}
	if !strings.Contains(errb.String(), "running replicas adopt them") {
		t.Errorf("stderr:\n%s", errb.String())
	}
	// Every replica's sinks get a token the provider accepts, for each credential.
	testkit.WaitUntil(t, "every replica's sinks hold active tokens", 30*time.Second, func() bool {
		for r := range 3 {
			for _, c := range []string{"coded", "pasted", "json"} {
				if !activeSink(p, filepath.Join(dir, fmt.Sprintf("replica%d", r), c+".json")) {
					return false
				}
			}
		}
		return true
	})
	at := p.Stats().Refreshes
	testkit.WaitUntil(t, "each credential refreshed 3 more times", 30*time.Second, func() bool { return p.Stats().Refreshes >= at+9 })
	for _, stop := range stops {
		stop()
	}
	stats := p.Stats()
	t.Logf("provider: %d refreshes, %d reuses", stats.Refreshes, stats.Reuses)
	if stats.Reuses != 0 || stats.FamiliesRevoked != 0 {
		t.Fatalf("refresh tokens reused %d times", stats.Reuses)
	}
	for _, c := range []string{"coded", "pasted", "json"} {
		if live := p.CurrentRefreshToken(c); len(live) != 1 {
			t.Errorf("%s: %d live refresh tokens", c, len(live))
		}
	}
}

// activeSink reports whether the json file sink at path holds an access
// token the provider accepts.
func activeSink(p *fakeprovider.Provider, path string) bool {
	var js struct {
		AccessToken string `json:"access_token"`
	}
	b, err := os.ReadFile(path)
	return err == nil && json.Unmarshal(b, &js) == nil && p.ActiveAccessToken(js.AccessToken)
}

// handRefresh makes one refresh_token grant by hand and returns the token JSON.
func handRefresh(t *testing.T, base, client, rt string) []byte {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {client}, "client_secret": {client + "-secret-value"}}
	resp, err := http.PostForm(base+"/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("hand refresh: %d", resp.StatusCode)
	}
	return body
}

// startReplica runs an in-process daemon on cfgPath until the returned stop
// (also run at cleanup).
func startReplica(t *testing.T, cfgPath string) (stop func()) {
	t.Helper()
	cfg, err := daemon.LoadConfig(context.Background(), cfgPath, daemon.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	log, _ := logging.New(&syncbuf.Buffer{}, "info")
	d, err := daemon.New(cfg, log, scheduler.Options{MinInterval: 100 * time.Millisecond, ReauthRecheck: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("replica %s: %v", cfgPath, err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
