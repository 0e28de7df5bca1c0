package grants

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestHTTPSProxyFromEnvironment: a credential with ca_file (its own
// transport) still goes through HTTPS_PROXY: the token request for
// https://example.com reaches a CONNECT proxy on 127.0.0.1, which tunnels it
// to the test server; TLS ends at the server (example.com is in its
// certificate), not at the proxy. net/http reads the proxy variables once
// per process, so the request runs in a child test process with them set.
func TestHTTPSProxyFromEnvironment(t *testing.T) {
	if os.Getenv("TOKEND_PROXY_CHILD") == "1" {
		proxyChild(t)
		return
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, okBody)
	}))
	t.Cleanup(srv.Close)
	var mu sync.Mutex
	var connects []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		mu.Lock()
		connects = append(connects, r.Host)
		mu.Unlock()
		up, err := net.Dial("tcp", srv.Listener.Addr().String()) // every host leads to the test server
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusOK)
		down, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			up.Close()
			return
		}
		go func() { _, _ = io.Copy(up, down); up.Close() }()
		_, _ = io.Copy(down, up)
		down.Close()
	}))
	t.Cleanup(proxy.Close)
	ca := writeFile(t, t.TempDir(), "ca.pem", certPEM(srv.Certificate()), 0o644)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHTTPSProxyFromEnvironment$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TOKEND_PROXY_CHILD=1", "TOKEND_PROXY_CA="+ca,
		"HTTPS_PROXY="+proxy.URL, "https_proxy="+proxy.URL, "NO_PROXY=", "no_proxy=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(connects, " ") != "example.com:443" {
		t.Fatalf("proxy saw CONNECT %q, want example.com:443 once\n%s", connects, out)
	}
}

// proxyChild sends one token request to https://example.com trusting only
// TOKEND_PROXY_CA: with no proxy it could not reach the test server at all.
func proxyChild(t *testing.T) {
	b, err := os.ReadFile(filepath.Clean(os.Getenv("TOKEND_PROXY_CA")))
	if err != nil {
		t.Fatal(err)
	}
	roots, err := ParseCAFile(b)
	if err != nil {
		t.Fatal(err)
	}
	c := newTestClient(t, "https://example.com", func(cfg *Config) { cfg.RootCAs = roots })
	if _, err := c.ClientCredentials(context.Background()); err != nil {
		t.Fatal(err)
	}
}
