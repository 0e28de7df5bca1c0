package grants

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestNewHTTPClientPoolsAndDoesNotFollowRedirects(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
			return
		}
		t.Errorf("redirect followed to %s", r.URL.Path)
	}))
	defer srv.Close()
	hc := NewHTTPClient(64)
	tr, ok := hc.Transport.(*http.Transport)
	if !ok || tr.MaxIdleConnsPerHost != 64 || tr.MaxIdleConns < 64 || hc.Timeout != 30*time.Second {
		t.Fatalf("client: transport %T idle/host %d idle %d timeout %s; want 64, >= 64, 30s", hc.Transport, tr.MaxIdleConnsPerHost, tr.MaxIdleConns, hc.Timeout)
	}
	resp, err := hc.Post(srv.URL+"/token", "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("status %d; want the redirect itself (307), not followed", resp.StatusCode)
	}
	if def := NewHTTPClient(0).Transport.(*http.Transport); def.MaxIdleConnsPerHost != 0 {
		t.Fatalf("NewHTTPClient(0) idle/host %d; want net/http's default (0 = 2)", def.MaxIdleConnsPerHost)
	}
}
