package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/fakeprovider"
	"github.com/tokend/tokend/internal/logging"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/syncbuf"
	"github.com/tokend/tokend/internal/testkit"
)

// tokenAPI is an upstream API that accepts only access tokens the provider
// issued and that are live, and remembers every token it accepted.
type tokenAPI struct {
	*httptest.Server
	p        *fakeprovider.Provider
	revoked  sync.Map // token -> true: refused although live
	rejected atomic.Int32
	served   atomic.Int32
	mu       sync.Mutex
	seen     map[string]bool
}

func newTokenAPI(t *testing.T, p *fakeprovider.Provider) *tokenAPI {
	a := &tokenAPI{p: p, seen: map[string]bool{}}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if _, bad := a.revoked.Load(tok); !ok || bad || !p.ActiveAccessToken(tok) {
			a.rejected.Add(1)
			http.Error(w, `{"error":"invalid_token"}`, http.StatusUnauthorized)
			return
		}
		a.mu.Lock()
		a.seen[tok] = true
		a.mu.Unlock()
		a.served.Add(1)
		body, _ := io.ReadAll(r.Body)
		_, _ = w.Write(body)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *tokenAPI) tokens() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.seen)
}

// proxyDaemon starts a daemon for credential "app" (refresh_token grant
// against p, a file sink) with extra appended to its [[credential]] table
// (proxies) and after it (more credentials).
func proxyDaemon(t *testing.T, p *fakeprovider.Provider, base, extra string) (*Daemon, string, *syncbuf.Buffer, func()) {
	t.Helper()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "app.rt"), p.IssueRefreshToken("app", "read")+"\n")
	cfgFn := filepath.Join(dir, "tokend.toml")
	write(t, cfgFn, testkit.Config{StateDir: filepath.Join(dir, "state"), ShutdownGrace: "5s",
		Credentials: []testkit.Credential{{Name: "app", TokenURL: base + "/token", ClientID: "app", ClientSecret: "app-secret-value",
			RefreshTokenFile: filepath.Join(dir, "app.rt"), Sinks: []testkit.Sink{{Type: "file", Path: filepath.Join(dir, "app.token")}}}},
	}.TOML()+extra)
	cfg, err := config.Load(cfgFn)
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
	testkit.WaitUntil(t, "app's first token", 15*time.Second, func() bool {
		_, _, err := d.Token("app")
		return err == nil
	})
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return d, cfgFn, logs, stop
}

func proxyTable(listen, upstream string) string {
	return fmt.Sprintf("  [[credential.proxy]]\n  listen = %q\n  upstream = %q\n", listen, upstream)
}

// TestProxyThroughRotations: 1,000 requests through the proxy while the
// provider's 3-second tokens rotate several times: none fails and none
// reaches the API with a token that is not live.
func TestProxyThroughRotations(t *testing.T) {
	p, base := startProvider(t, 3*time.Second, "app", "app-secret-value")
	api := newTokenAPI(t, p)
	d, _, logs, stop := proxyDaemon(t, p, base, proxyTable("127.0.0.1:0", api.URL))
	addr := "http://" + d.ProxyAddrs()["127.0.0.1:0"]
	before := p.Stats().Refreshes
	const total, workers = 1000, 8
	var sent, failed atomic.Int32
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := sent.Add(1); i <= total; i = sent.Add(1) {
				body := fmt.Sprintf("req-%d-%d", w, i)
				resp, err := c.Post(addr+"/v1/x", "text/plain", strings.NewReader(body))
				if err != nil {
					failed.Add(1)
					continue
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(got) != body {
					failed.Add(1)
				}
				time.Sleep(70 * time.Millisecond) // ~110 requests/s: 1,000 take about 9 s, 4 rotations
			}
		})
	}
	wg.Wait()
	rotations := p.Stats().Refreshes - before
	stop()
	t.Logf("%d requests, %d rotations, %d tokens used, %d rejected", api.served.Load(), rotations, api.tokens(), api.rejected.Load())
	if failed.Load() != 0 || api.rejected.Load() != 0 || api.served.Load() != total {
		t.Fatalf("%d failed, %d reached the API with a token it refused, %d served", failed.Load(), api.rejected.Load(), api.served.Load())
	}
	if rotations < 3 || api.tokens() < 3 {
		t.Fatalf("only %d rotations (%d tokens) during the run", rotations, api.tokens())
	}
	if p.Stats().Reuses != 0 {
		t.Fatal("a refresh token was reused")
	}
	for tok := range api.seen { // stopped: no more writers
		if strings.Contains(logs.String(), tok) {
			t.Fatal("an access token in the daemon's log")
		}
	}
}

// TestProxy401RefreshesOnceAndNeedsReauth503: the API revokes the live
// token; a burst of concurrent requests all see 401, the daemon refreshes
// once through the scheduler, every request is sent again and succeeds.
// A credential that needs re-authorization answers 503 with its reason.
// The metrics count both.
func TestProxy401RefreshesOnceAndNeedsReauth503(t *testing.T) {
	p, base := startProvider(t, time.Hour, "app", "app-secret-value")
	api := newTokenAPI(t, p)
	extra := proxyTable("127.0.0.1:0", api.URL) + fmt.Sprintf(`
[[credential]]
name = "lost"
token_url = %q
client_id = "app"
client_secret = "app-secret-value"
`, base+"/token") + proxyTable("unix:"+filepath.Join(t.TempDir(), "lost.sock"), api.URL)
	d, _, _, _ := proxyDaemon(t, p, base, extra)
	addrs := d.ProxyAddrs()
	addr := "http://" + addrs["127.0.0.1:0"]
	tok, _, err := d.Token("app")
	if err != nil {
		t.Fatal(err)
	}
	api.revoked.Store(tok.AccessToken.Reveal(), true)
	before := p.Stats().Refreshes

	const n = 40
	var wg sync.WaitGroup
	var failed atomic.Int32
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	for i := range n {
		wg.Go(func() {
			body := fmt.Sprintf("burst-%d", i)
			resp, err := c.Post(addr+"/x", "text/plain", strings.NewReader(body))
			if err != nil {
				failed.Add(1)
				return
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(got) != body {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() != 0 || api.served.Load() != n {
		t.Fatalf("%d failed, %d served", failed.Load(), api.served.Load())
	}
	if got := p.Stats().Refreshes - before; got != 1 || api.rejected.Load() == 0 {
		t.Fatalf("%d refreshes for a burst of %d 401s, want 1", got, api.rejected.Load())
	}

	// needs_reauth: 503 with a JSON reason, nothing sent upstream.
	var lost string
	for l, a := range addrs {
		if strings.HasPrefix(l, "unix:") {
			lost = a
		}
	}
	sock := strings.TrimPrefix(lost, "unix:")
	uc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	resp, err := uc.Get("http://lost/x")
	if err != nil {
		t.Fatal(err)
	}
	var reason struct{ Error, Credential, Status string }
	err = json.NewDecoder(resp.Body).Decode(&reason)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 503 || reason.Status != "needs_reauth" || reason.Credential != "lost" {
		t.Fatalf("lost: HTTP %d %+v %v", resp.StatusCode, reason, err)
	}

	var m strings.Builder
	rec := httptest.NewRecorder()
	d.Metrics().Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	m.WriteString(rec.Body.String())
	for _, want := range []string{
		fmt.Sprintf(`tokend_proxy_requests_total{class="2xx",credential="app",listen="127.0.0.1:0"} %d`, n),
		`tokend_proxy_requests_total{class="no_token",credential="lost"`,
		`tokend_proxy_retries_total{credential="app",listen="127.0.0.1:0"} `,
	} {
		if !strings.Contains(m.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestProxyFollowsReload: a reload that changes a proxy's upstream keeps
// its listener and routes new requests to the new upstream; an added proxy
// starts; a removed one stops listening; a reload whose proxy cannot listen
// is rejected with the running proxies untouched.
func TestProxyFollowsReload(t *testing.T) {
	p, base := startProvider(t, time.Hour, "app", "app-secret-value")
	a, b := newTokenAPI(t, p), newTokenAPI(t, p)
	keep := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d, cfgFn, _, _ := proxyDaemon(t, p, base, proxyTable(keep, a.URL))
	get := func(addr string) error {
		resp, err := http.Post("http://"+addr+"/x", "text/plain", strings.NewReader("hi"))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return nil
	}
	if err := get(keep); err != nil || a.served.Load() != 1 {
		t.Fatalf("before reload: %v", err)
	}
	added := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	reload := func(proxies string) error {
		cfg, _ := os.ReadFile(cfgFn)
		i := strings.Index(string(cfg), "  [[credential.proxy]]")
		write(t, cfgFn, string(cfg[:i])+proxies)
		return d.Reload(context.Background())
	}
	if err := reload(proxyTable(keep, b.URL) + proxyTable(added, a.URL)); err != nil {
		t.Fatal(err)
	}
	if err := get(keep); err != nil || b.served.Load() != 1 {
		t.Fatalf("kept listener after reload: %v, b served %d", err, b.served.Load())
	}
	if err := get(added); err != nil || a.served.Load() != 2 {
		t.Fatalf("added proxy: %v", err)
	}
	// A proxy on a port that is taken: the reload is rejected, nothing changes.
	taken := listenTaken(t)
	if err := reload(proxyTable(taken, a.URL)); err == nil || !strings.Contains(err.Error(), taken) {
		t.Fatalf("reload with a taken port: %v", err)
	}
	if err := get(added); err != nil {
		t.Fatalf("after a rejected reload: %v", err)
	}
	if err := reload(proxyTable(added, a.URL)); err != nil {
		t.Fatal(err)
	}
	if err := get(keep); err == nil {
		t.Fatal("a removed proxy still answers")
	}
	if err := get(added); err != nil {
		t.Fatalf("the remaining proxy: %v", err)
	}
}

// listenTaken returns a loopback address that a listener holds until the
// test ends.
func listenTaken(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln.Addr().String()
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
