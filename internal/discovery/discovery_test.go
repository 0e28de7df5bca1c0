package discovery

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tokend/tokend/internal/config"
)

func TestWellKnownURLs(t *testing.T) {
	for issuer, want := range map[string][]string{
		"https://idp.example": {"https://idp.example/.well-known/oauth-authorization-server", "https://idp.example/.well-known/openid-configuration"},
		"https://idp.example/realms/x/": {"https://idp.example/.well-known/oauth-authorization-server/realms/x",
			"https://idp.example/realms/x/.well-known/openid-configuration"},
	} {
		got, err := WellKnownURLs(issuer)
		if err != nil || strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: %v %v", issuer, got, err)
		}
	}
	if _, err := WellKnownURLs("idp.example"); err == nil {
		t.Error("relative issuer accepted")
	}
}

// metaServer serves documents by path and records what was asked.
type metaServer struct {
	*httptest.Server
	mu   sync.Mutex
	docs map[string]any
	hits []string
}

func newMetaServer(t *testing.T) *metaServer {
	m := &metaServer{docs: map[string]any{}}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.hits = append(m.hits, r.URL.Path)
		doc, ok := m.docs[r.URL.Path]
		m.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(doc)
	}))
	t.Cleanup(m.Close)
	return m
}

func TestFetchRFC8414ThenOIDC(t *testing.T) {
	m := newMetaServer(t)
	issuer := m.URL + "/realm"
	m.docs["/realm/.well-known/openid-configuration"] = map[string]any{
		"issuer": issuer, "token_endpoint": m.URL + "/realm/token", "authorization_endpoint": m.URL + "/realm/auth",
		"introspection_endpoint": m.URL + "/realm/introspect",
	}
	md, err := Fetch(context.Background(), nil, issuer)
	if err != nil {
		t.Fatal(err)
	}
	if md.TokenEndpoint != m.URL+"/realm/token" || md.AuthorizationEndpoint != m.URL+"/realm/auth" || md.IntrospectionEndpoint != m.URL+"/realm/introspect" {
		t.Errorf("metadata %+v", md)
	}
	if strings.Join(m.hits, " ") != "/.well-known/oauth-authorization-server/realm /realm/.well-known/openid-configuration" {
		t.Errorf("tried %v; want RFC 8414 first, then OIDC", m.hits)
	}
	// The RFC 8414 document wins when present.
	m.docs["/.well-known/oauth-authorization-server/realm"] = map[string]any{"issuer": issuer, "token_endpoint": m.URL + "/oauth/token"}
	if md, err := Fetch(context.Background(), nil, issuer); err != nil || md.TokenEndpoint != m.URL+"/oauth/token" {
		t.Errorf("RFC 8414 document: %+v %v", md, err)
	}
}

func TestFetchRefusesOtherIssuer(t *testing.T) {
	m := newMetaServer(t)
	m.docs["/.well-known/oauth-authorization-server"] = map[string]any{"issuer": "https://evil.example", "token_endpoint": "https://evil.example/token"}
	m.docs["/.well-known/openid-configuration"] = map[string]any{"issuer": m.URL, "token_endpoint": m.URL + "/token"}
	_, err := Fetch(context.Background(), nil, m.URL)
	if !errors.Is(err, ErrIssuerMismatch) {
		t.Fatalf("err = %v, want ErrIssuerMismatch (and no fallback to the second document)", err)
	}
	// A trailing slash is a different issuer too (RFC 8414 §3.3 compares exactly).
	m.docs["/.well-known/oauth-authorization-server"] = map[string]any{"issuer": m.URL + "/", "token_endpoint": m.URL + "/token"}
	if _, err := Fetch(context.Background(), nil, m.URL); !errors.Is(err, ErrIssuerMismatch) {
		t.Errorf("trailing-slash issuer: %v", err)
	}
}

func TestFetchFailures(t *testing.T) {
	m := newMetaServer(t)
	if _, err := Fetch(context.Background(), nil, m.URL); err == nil || !strings.Contains(err.Error(), "no authorization server metadata") {
		t.Errorf("no documents: %v", err)
	}
	m.docs["/.well-known/oauth-authorization-server"] = map[string]any{"issuer": m.URL}
	if _, err := Fetch(context.Background(), nil, m.URL); err == nil || !strings.Contains(err.Error(), "no token_endpoint") {
		t.Errorf("no token_endpoint: %v", err)
	}
	m.docs["/.well-known/oauth-authorization-server"] = []string{"not", "an", "object"}
	if _, err := Fetch(context.Background(), nil, m.URL); err == nil || !strings.Contains(err.Error(), "not a JSON object") {
		t.Errorf("array document: %v", err)
	}
}

func TestApplyFillsOnlyUnsetEndpoints(t *testing.T) {
	m := newMetaServer(t)
	m.docs["/.well-known/oauth-authorization-server"] = map[string]any{
		"issuer": m.URL, "token_endpoint": m.URL + "/token", "authorization_endpoint": m.URL + "/authorize",
		"introspection_endpoint": m.URL + "/introspect",
	}
	cfg := &config.Config{Credentials: []config.Credential{
		{Name: "a", Grant: "refresh_token", Issuer: m.URL},
		{Name: "b", Grant: "refresh_token", Issuer: m.URL, TokenURL: m.URL + "/custom-token"},
		{Name: "c", Grant: "refresh_token", TokenURL: "https://fixed.example/token"},
	}}
	if err := Apply(context.Background(), cfg, nil); err != nil {
		t.Fatal(err)
	}
	a, b, c := cfg.Credentials[0], cfg.Credentials[1], cfg.Credentials[2]
	if a.TokenURL != m.URL+"/token" || a.AuthorizeURL != m.URL+"/authorize" || a.IntrospectionURL != m.URL+"/introspect" {
		t.Errorf("a: %+v", a)
	}
	if b.TokenURL != m.URL+"/custom-token" || b.AuthorizeURL != m.URL+"/authorize" {
		t.Errorf("b: explicit token_url must win: %+v", b)
	}
	if c.AuthorizeURL != "" || c.TokenURL != "https://fixed.example/token" {
		t.Errorf("c without issuer changed: %+v", c)
	}
	if n := len(m.hits); n != 1 {
		t.Errorf("metadata fetched %d times for one issuer, want 1", n)
	}
	// Endpoints the document gives must pass the token_url rules.
	m.docs["/.well-known/oauth-authorization-server"] = map[string]any{"issuer": m.URL, "token_endpoint": "http://remote.example/token"}
	cr := config.Credential{Name: "d", Grant: "refresh_token", Issuer: m.URL}
	if err := ApplyCredential(context.Background(), &cr, nil); err == nil || !strings.Contains(err.Error(), "token_url uses http://") {
		t.Errorf("insecure discovered endpoint: %v", err)
	}
}
