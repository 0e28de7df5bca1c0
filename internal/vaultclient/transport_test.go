package vaultclient_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/testkit"
	"github.com/tokend/tokend/internal/vaultclient"
	"github.com/tokend/tokend/internal/vaulttest"
)

// wrappedSecretID issues a secret ID for the AppRole role "tokend" wrapped
// in a single-use response-wrapping token, as an orchestrator hands it over.
func wrappedSecretID(t *testing.T, srv *vaulttest.Server) string {
	t.Helper()
	c := srv.Client()
	c.SetWrappingLookupFunc(func(string, string) string { return "5m" })
	sec, err := c.Logical().Write("auth/approle/role/tokend/secret-id", nil)
	if err != nil || sec == nil || sec.WrapInfo == nil || sec.WrapInfo.Token == "" {
		t.Fatalf("wrapped secret id: %v %+v", err, sec)
	}
	return sec.WrapInfo.Token
}

// TestAppRoleWrappedSecretID: secret_id_wrapped = true unwraps the
// response-wrapping token in secret_id_file and logs in with the secret ID.
// A wrapping token is single-use, so re-login (the Vault token reached its
// max TTL) reads the file afresh: a new wrapped secret ID put there is used.
// A spent wrapping token fails login without showing it.
func TestAppRoleWrappedSecretID(t *testing.T) {
	srv := vaulttest.Start(t)
	roleIDFile, _ := setupAppRole(t, srv, "2s", "3s")
	dir := t.TempDir()
	first := wrappedSecretID(t, srv)
	sidFile := writeFile(t, dir, "secret_id", first)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := vaultclient.Config{Address: srv.Addr, Auth: "approle", RoleIDFile: roleIDFile, SecretIDFile: sidFile, SecretIDWrapped: true, Mount: "approle"}
	c, err := vaultclient.New(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.KVPut(ctx, "secret", "tokend/wrapped", map[string]any{"v": "1"}, 0); err != nil {
		t.Fatalf("write after a wrapped login: %v", err)
	}
	writeFile(t, dir, "secret_id", wrappedSecretID(t, srv)) // the orchestrator delivers a fresh one
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	testkit.WaitUntil(t, "a re-login with the fresh wrapped secret id", 20*time.Second, func() bool { logins, _ := c.Stats(); return logins >= 2 })
	cancel()
	<-done

	// The first wrapping token was unwrapped already: login fails, naming the file only.
	cfg.SecretIDFile = writeFile(t, dir, "spent", first)
	_, err = vaultclient.New(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "approle auth") || strings.Contains(err.Error(), first) {
		t.Fatalf("spent wrapping token: %v", err)
	}
	// Without secret_id_wrapped the wrapping token is not a secret ID.
	cfg.SecretIDFile, cfg.SecretIDWrapped = writeFile(t, dir, "unflagged", wrappedSecretID(t, srv)), false
	if _, err := vaultclient.New(context.Background(), cfg, nil); err == nil {
		t.Fatal("a wrapping token was accepted as a secret id")
	}
}

// TestCACert: Vault over TLS with a CA generated for the test. ca_cert makes
// login and KV writes work; without it, or with another server's CA, the
// certificate is refused.
func TestCACert(t *testing.T) {
	srv := vaulttest.StartWith(t, vaulttest.Options{TLS: true})
	if !strings.HasPrefix(srv.Addr, "https://") {
		t.Fatalf("address %s", srv.Addr)
	}
	fn := writeFile(t, t.TempDir(), "token", srv.RootToken)
	ctx := context.Background()
	c, err := vaultclient.New(ctx, vaultclient.Config{Address: srv.Addr, CACert: srv.CACert, Auth: "token", TokenFile: fn}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.KVPut(ctx, "secret", "tokend/tls", map[string]any{"v": "1"}, 0); err != nil {
		t.Fatalf("write over TLS: %v", err)
	}
	if _, err := vaultclient.New(ctx, vaultclient.Config{Address: srv.Addr, Auth: "token", TokenFile: fn}, nil); err == nil ||
		!strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without ca_cert: %v", err)
	}
	other := vaulttest.StartWith(t, vaulttest.Options{TLS: true})
	if _, err := vaultclient.New(ctx, vaultclient.Config{Address: srv.Addr, CACert: other.CACert, Auth: "token", TokenFile: fn}, nil); err == nil ||
		!strings.Contains(err.Error(), "certificate") {
		t.Fatalf("another CA: %v", err)
	}
}

// TestNamespaceHeader: namespace sets X-Vault-Namespace on every request —
// login, KV, token renewal. The OSS dev server has no namespaces (it
// ignores the header), so a recording proxy in front of it checks that the
// header is sent; that Vault Enterprise then scopes the paths is not tested.
func TestNamespaceHeader(t *testing.T) {
	srv := vaulttest.Start(t)
	roleIDFile, secretIDFile := setupAppRole(t, srv, "2s", "1m")
	target, err := url.Parse(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string][]string{} // path → namespaces sent
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Path] = append(seen[r.URL.Path], r.Header.Get("X-Vault-Namespace"))
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := vaultclient.New(ctx, vaultclient.Config{Address: front.URL, Namespace: "team-a/tokend", Auth: "approle",
		RoleIDFile: roleIDFile, SecretIDFile: secretIDFile, Mount: "approle"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.KVPut(ctx, "secret", "tokend/ns", map[string]any{"v": "1"}, 0); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	testkit.WaitUntil(t, "a token renewal", 20*time.Second, func() bool { _, renewals := c.Stats(); return renewals >= 1 })
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	for _, p := range []string{"/v1/auth/approle/login", "/v1/secret/data/tokend/ns", "/v1/auth/token/renew-self"} {
		if len(seen[p]) == 0 {
			t.Errorf("no request to %s (saw %v)", p, seen)
		}
	}
	for p, nss := range seen {
		for _, ns := range nss {
			if ns != "team-a/tokend" {
				t.Errorf("%s sent namespace %q", p, ns)
			}
		}
	}
}
