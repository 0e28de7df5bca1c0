package faulttest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/daemon"
	"github.com/tokend/tokend/internal/fakeprovider"
	"github.com/tokend/tokend/internal/logging"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/status"
	"github.com/tokend/tokend/internal/syncbuf"
	"github.com/tokend/tokend/internal/testkit"
)

// Other hygiene checks live next to their code and are not repeated here:
// grants/leak_test.go (OAuth errors and network errors never hold secrets),
// secret (redaction in fmt, JSON, zap), config (the inline-secret warning
// for a group/world-readable config, FuzzDecode), atomicfile and state (0600
// files, 0700 directories), and TLS verification of the default grants
// client is the "TLS untrusted certificate" case of TestProviderFaultMatrix.

// harvester records every token the provider hands out.
type harvester struct {
	inner http.Handler
	mu    sync.Mutex
	seen  []string
}

var tokenField = regexp.MustCompile(`"(?:access_token|refresh_token)":"([^"]+)"`)

func (h *harvester) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	h.inner.ServeHTTP(rec, r)
	h.mu.Lock()
	for _, m := range tokenField.FindAllSubmatch(rec.Body.Bytes(), -1) {
		h.seen = append(h.seen, string(m[1]))
	}
	h.mu.Unlock()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

func (h *harvester) tokens() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.seen...)
}

// TestNoSecretInLogsStatusOrMetrics runs a daemon at debug level through
// start-up, rotations, a forced refresh, an import, a reload, a refused
// refresh token, an injected provider error and a wrong admin token, then
// scans the logs, every error, the status JSON and /metrics for every token
// and secret involved, and checks the modes of every file tokend created.
func TestNoSecretInLogsStatusOrMetrics(t *testing.T) {
	dir := t.TempDir()
	p, err := fakeprovider.New(fakeprovider.Options{AccessTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{"app-client-secret-93f", "svc-client-secret-0d2", "bad-client-secret-6aa"}
	p.AddClient("app", secrets[0])
	p.AddClient("svc", secrets[1])
	p.AddClient("bad", secrets[2])
	h := &harvester{inner: p.Handler()}
	srv := httptest.NewServer(h)
	defer srv.Close()
	appRT, bogusRT := p.IssueRefreshToken("app", "read"), "rt-never-issued-5e1f77"
	secrets = append(secrets, appRT, bogusRT)
	for name, v := range map[string]string{"app.rt": appRT, "bad.rt": bogusRT, "app.secret": secrets[0]} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "out")
	tokenURL, envFile := srv.URL+"/token", filepath.Join(out, "tokens.env")
	cfgText := testkit.Config{
		StateDir:     filepath.Join(dir, "state"),
		StatusListen: "127.0.0.1:0",
		Credentials: []testkit.Credential{
			{Name: "app", TokenURL: tokenURL, ClientID: "app",
				ClientSecretFile: filepath.Join(dir, "app.secret"), RefreshTokenFile: filepath.Join(dir, "app.rt"),
				Sinks: []testkit.Sink{
					{Type: "file", Path: filepath.Join(out, "app.json"), Format: "json"},
					{Type: "envfile", Path: envFile, Var: "APP_TOKEN"},
				}},
			{Name: "svc", Grant: "client_credentials", TokenURL: tokenURL, ClientID: "svc", ClientSecret: secrets[1], AuthStyle: "post",
				Sinks: []testkit.Sink{{Type: "envfile", Path: envFile, Var: "SVC_TOKEN"}}},
			{Name: "bad", TokenURL: tokenURL, ClientID: "bad", ClientSecret: secrets[2], RefreshTokenFile: filepath.Join(dir, "bad.rt"),
				Sinks: []testkit.Sink{{Type: "file", Path: filepath.Join(out, "bad.token")}}},
		},
	}.TOML()
	// app also has template sinks (one whose render fails at generation 2
	// with an error that would quote the token) and an auth-injecting proxy
	// to an API that rejects the first request.
	var apiCalls atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if apiCalls.Add(1) == 1 {
			http.Error(w, "expired", http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer api.Close()
	cfgText = strings.Replace(cfgText, "[[credential]]\nname = \"svc\"", fmt.Sprintf(`  [[credential.sink]]
  type = "template"
  path = %q
  template = "machine api.example.com login oauth password {{ .AccessToken }}\n"

  [[credential.sink]]
  type = "template"
  path = %q
  template = '{{ if eq .Generation 2 }}{{ env (printf "-%%s" .AccessToken) "x" }}{{ end }}'

  [[credential.proxy]]
  listen = "127.0.0.1:0"
  upstream = %q

[[credential]]
name = "svc"`, filepath.Join(out, "app.netrc"), filepath.Join(out, "app.broken"), api.URL), 1)
	cfgFn := filepath.Join(dir, "tokend.toml")
	if err := os.WriteFile(cfgFn, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgFn)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.ResolveSecrets(); err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	log, err := logging.New(logs, "debug")
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(cfg, log, scheduler.Options{Backoff: testBackoff})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	c, err := status.NewClient(d.StatusAddr(), filepath.Join(dir, "state", "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	var errs []error
	gen := func(name string) uint64 { st, _ := c.Credential(ctx, name); return st.Generation }
	testkit.WaitUntil(t, "app and svc to get tokens", 15*time.Second, func() bool { return gen("app") == 1 && gen("svc") == 1 })
	testkit.WaitUntil(t, "bad to need re-authorization", 15*time.Second, func() bool {
		st, _ := c.Credential(ctx, "bad")
		return st.Status == "needs_reauth"
	})
	// An injected 503 whose body carries a token-like value, then a forced refresh.
	p.FailNext(fakeprovider.Failure{Status: 503, Body: `{"error":"temporarily_unavailable","error_description":"try later","access_token":"at-in-error-body-77c"}`})
	secrets = append(secrets, "at-in-error-body-77c")
	errs = append(errs, c.Refresh(ctx, "app"))
	testkit.WaitUntil(t, "app to recover after the injected error", 15*time.Second, func() bool { return gen("app") >= 2 })
	importRT := p.IssueRefreshToken("app", "read")
	secrets = append(secrets, importRT)
	errs = append(errs, c.Import(ctx, "app", status.ImportRequest{RefreshToken: secret.New(importRT)}))
	testkit.WaitUntil(t, "app to refresh after the import", 15*time.Second, func() bool { st, _ := c.Credential(ctx, "app"); return st.Generation >= 4 && st.Status == "ok" })
	errs = append(errs, c.Reload(ctx), c.Refresh(ctx, "nope"))
	// The proxy: a 401, a refresh, the retry; the token endpoint, for a
	// credential with a token and one without.
	resp, err := http.Get("http://" + d.ProxyAddrs()["127.0.0.1:0"] + "/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "ok" || apiCalls.Load() != 2 {
		t.Fatalf("through the proxy: HTTP %d %q after %d API calls", resp.StatusCode, b, apiCalls.Load())
	}
	if tok, err := c.Token(ctx, "app"); err != nil || tok.AccessToken.IsZero() {
		t.Fatalf("token of app: %v", err)
	}
	_, err = c.Token(ctx, "bad")
	errs = append(errs, err)
	wrong := filepath.Join(dir, "wrong.token")
	if err := os.WriteFile(wrong, []byte(strings.Repeat("cd", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	badClient, _ := status.NewClient(d.StatusAddr(), wrong)
	errs = append(errs, badClient.Refresh(ctx, "app"), badClient.Import(ctx, "app", status.ImportRequest{RefreshToken: secret.New(importRT)}))

	admin, err := os.ReadFile(filepath.Join(dir, "state", "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, strings.TrimSpace(string(admin)))
	var surface strings.Builder
	surface.WriteString(logs.String())
	for _, e := range errs {
		if e != nil {
			surface.WriteString(e.Error() + "\n")
		}
	}
	for _, path := range []string{"/v1/credentials", "/v1/credentials/app", "/metrics", "/healthz", "/readyz"} {
		resp, err := http.Get("http://" + d.StatusAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != 200 && path != "/readyz" {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		surface.Write(b)
	}
	snap, _ := json.Marshal(d.Snapshot())
	surface.Write(snap)
	harvested := h.tokens()
	if len(harvested) < 6 {
		t.Fatalf("only %d tokens harvested from the provider", len(harvested))
	}
	all := surface.String()
	for _, s := range append(secrets, harvested...) {
		if strings.Contains(all, s) {
			t.Errorf("a secret (%s…) appears in logs, errors, status JSON or metrics", s[:min(6, len(s))])
		}
	}
	// The scan covers the failure logs (which carry provider answers) and metrics.
	for _, want := range []string{`"credential":"bad"`, `"error_class":"permanent"`, `"error_class":"transient"`, "tokend_refresh_attempts_total", `"name":"svc"`,
		"upstream rejected the token (401); refreshing", `error calling env: invalid variable name \"-[redacted]\"`, "tokend_proxy_retries_total"} {
		if !strings.Contains(all, want) {
			t.Fatalf("the scanned output lacks %s: the code paths did not run", want)
		}
	}
	t.Logf("scanned %d bytes for %d secret values", len(all), len(secrets)+len(harvested))
	checkModes(t, filepath.Join(dir, "state"), out)
}

// checkModes: every directory tokend created is 0700 and every file 0600.
func checkModes(t *testing.T, roots ...string) {
	t.Helper()
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, de os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := de.Info()
			if err != nil {
				return err
			}
			want := os.FileMode(0o600)
			if de.IsDir() {
				want = 0o700
			}
			if fi.Mode().Perm() != want {
				t.Errorf("%s has mode %#o, want %#o", path, fi.Mode().Perm(), want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
