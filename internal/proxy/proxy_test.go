package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
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

	"github.com/tokend/tokend/internal/state"
)

// acceptUpstream answers 200 with what it saw when the Authorization header
// is the source's current token, else 401.
func acceptUpstream(src *fakeSource) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, _, _ := src.Token("app")
		if r.Header.Get("Authorization") != "Bearer "+tok.AccessToken.Reveal() {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"path": r.URL.RequestURI(), "host": r.Host, "body": string(body)})
	}
}

// TestForwardsWithTheTokenReplacingTheClients: path and query are joined
// to the upstream's, the client's own Authorization is replaced by
// "Bearer <token>" (a lower-case "bearer" type is sent as Bearer), the Host
// is the upstream's.
func TestForwardsWithTheTokenReplacingTheClients(t *testing.T) {
	src := &fakeSource{gen: 1}
	up := httptest.NewServer(acceptUpstream(src))
	defer up.Close()
	obs := &countObserver{}
	srv := start(t, "127.0.0.1:0", up.URL+"/api", "", src, obs)
	req, _ := http.NewRequest(http.MethodPost, "http://"+srv.Addr()+"/v1/items?x=1", strings.NewReader("hello"))
	req.Header.Set("Authorization", "Bearer client-own-token")
	resp, err := client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("HTTP %d %v", resp.StatusCode, err)
	}
	if got["path"] != "/api/v1/items?x=1" || got["body"] != "hello" || got["host"] != strings.TrimPrefix(up.URL, "http://") {
		t.Fatalf("upstream saw %v", got)
	}
	if obs.get("2xx") != 1 {
		t.Fatalf("classes %v", obs.classes)
	}
}

// TestUnixSocketListener: a unix: listener serves, with mode 0660.
func TestUnixSocketListener(t *testing.T) {
	src := &fakeSource{gen: 1}
	up := httptest.NewServer(acceptUpstream(src))
	defer up.Close()
	sock := filepath.Join(t.TempDir(), "app.sock")
	start(t, "unix:"+sock, up.URL, "", src, nil)
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket: %v %v", fi, err)
	}
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	resp, err := c.Get("http://app/ping")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("HTTP %d", resp.StatusCode)
	}
}

// TestUpstreamTLSIsVerified: a TLS upstream is reached with ca_file naming
// its certificate; without it (system roots) the proxy answers 502.
func TestUpstreamTLSIsVerified(t *testing.T) {
	src := &fakeSource{gen: 1}
	up := httptest.NewTLSServer(acceptUpstream(src))
	defer up.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: up.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	obs := &countObserver{}
	trusted := start(t, "127.0.0.1:0", up.URL, ca, src, obs)
	untrusted := start(t, "127.0.0.1:0", up.URL, "", &fakeSource{gen: 1}, obs)
	for addr, want := range map[string]int{trusted.Addr(): 200, untrusted.Addr(): 502} {
		resp, err := client().Get("http://" + addr + "/x")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s: HTTP %d %s, want %d", addr, resp.StatusCode, body, want)
		}
	}
	if obs.get("error") != 1 {
		t.Fatalf("classes %v", obs.classes)
	}
	if _, err := New(Options{Listen: "127.0.0.1:0", Route: Route{Credential: "app", Upstream: up.URL, CAFile: filepath.Join(t.TempDir(), "none")}, Source: src}); err == nil {
		t.Fatal("a missing ca_file was accepted")
	}
}

// TestNeedsReauthAnswers503: no request reaches the upstream; the client
// gets 503 and a JSON reason.
func TestNeedsReauthAnswers503(t *testing.T) {
	var reached atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Add(1) }))
	defer up.Close()
	obs := &countObserver{}
	srv := start(t, "127.0.0.1:0", up.URL, "", &fakeSource{gen: 1, status: state.StatusNeedsReauth}, obs)
	resp, err := client().Get("http://" + srv.Addr() + "/x")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body proxyError
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 503 ||
		body.Status != state.StatusNeedsReauth || body.Credential != "app" || !strings.Contains(body.Error, "needs re-authorization") {
		t.Fatalf("HTTP %d %+v %v", resp.StatusCode, body, err)
	}
	if reached.Load() != 0 || obs.get("no_token") != 1 {
		t.Fatalf("reached %d, classes %v", reached.Load(), obs.classes)
	}
}

// TestBurstOf401sSharesOneRefresh: 50 concurrent requests (GETs and small
// POSTs) all see their token rejected; one refresh is asked for, and each
// is sent again with the new token and succeeds.
func TestBurstOf401sSharesOneRefresh(t *testing.T) {
	src := &fakeSource{gen: 1}
	release := make(chan struct{})
	src.onRefresh = func() { <-release } // the refresh ends once every request has seen its 401
	var rejected atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+tokenOf(2) {
			rejected.Add(1)
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		_, _ = w.Write(body)
	}))
	defer up.Close()
	obs := &countObserver{}
	srv := start(t, "127.0.0.1:0", up.URL, "", src, obs)
	const n = 50
	c := client()
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := range n {
		wg.Go(func() {
			var req *http.Request
			want := ""
			if i%2 == 0 {
				req, _ = http.NewRequest(http.MethodGet, "http://"+srv.Addr()+"/x", nil)
			} else {
				want = strings.Repeat("b", 1000+i)
				req, _ = http.NewRequest(http.MethodPost, "http://"+srv.Addr()+"/x", strings.NewReader(want))
			}
			resp, err := c.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != want {
				errs <- resp.Status
			}
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for rejected.Load() < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("request failed: %s", e)
	}
	if got := src.refreshes.Load(); got != 1 {
		t.Fatalf("%d refreshes for one burst of 401s, want 1", got)
	}
	if rejected.Load() != n || obs.retries != n || obs.get("2xx") != n {
		t.Fatalf("rejected %d, retries %d, classes %v", rejected.Load(), obs.retries, obs.classes)
	}
}

// TestUnreplayableBodyIsNotRetried: a streamed (unknown-length) body that
// got a 401 is not sent again — the client gets the 401 — but the refresh
// still happens, and the next request succeeds.
func TestUnreplayableBodyIsNotRetried(t *testing.T) {
	src := &fakeSource{gen: 1}
	var seen atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Header.Get("Authorization") != "Bearer "+tokenOf(2) {
			http.Error(w, "bad token", http.StatusUnauthorized)
		}
	}))
	defer up.Close()
	srv := start(t, "127.0.0.1:0", up.URL, "", src, nil)
	pr, pw := io.Pipe()
	go func() { _, _ = pw.Write(bytes.Repeat([]byte("x"), 100<<10)); pw.Close() }()
	resp, err := client().Post("http://"+srv.Addr()+"/upload", "application/octet-stream", pr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || seen.Load() != 1 {
		t.Fatalf("HTTP %d, upstream saw %d", resp.StatusCode, seen.Load())
	}
	deadline := time.Now().Add(5 * time.Second)
	for tok, _, _ := src.Token("app"); tok.Generation != 2; tok, _, _ = src.Token("app") {
		if time.Now().After(deadline) {
			t.Fatal("no refresh after the 401")
		}
		time.Sleep(time.Millisecond)
	}
	resp, err = client().Get("http://" + srv.Addr() + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || src.refreshes.Load() != 1 {
		t.Fatalf("after the refresh: HTTP %d, %d refreshes", resp.StatusCode, src.refreshes.Load())
	}
}

// TestUpdateSwapsTheRoute: Update sends new requests to the new upstream
// on the same listener; a bad route is refused and the old one kept.
func TestUpdateSwapsTheRoute(t *testing.T) {
	src := &fakeSource{gen: 1}
	a := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "a") }))
	defer a.Close()
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "b") }))
	defer b.Close()
	srv := start(t, "127.0.0.1:0", a.URL, "", src, nil)
	get := func() string {
		resp, err := client().Get("http://" + srv.Addr() + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	if get() != "a" {
		t.Fatal("not routed to a")
	}
	if err := srv.Update(Route{Credential: "app", Upstream: b.URL}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Update(Route{Credential: "app", Upstream: "ftp://x"}); err == nil {
		t.Fatal("a bad upstream was accepted")
	}
	if get() != "b" || srv.Route().Upstream != b.URL {
		t.Fatal("not routed to b after Update")
	}
}

// sumReader yields n bytes of a fixed pattern without holding them.
type sumReader struct{ n int64 }

func (r *sumReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n {
		p = p[:r.n]
	}
	for i := range p {
		p[i] = byte(i)
	}
	r.n -= int64(len(p))
	return len(p), nil
}
