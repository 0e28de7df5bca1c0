package peertest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/daemon"
	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/logging"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/syncbuf"
)

// serviceUserIsAdmin is zitadel's example user store, plus its service
// user sid1 as a user allowed to be the subject of an exchange (the example
// storage lets only admins be impersonated: ValidateTokenExchangeRequest).
type serviceUserIsAdmin struct{ storage.UserStore }

func (u serviceUserIsAdmin) GetUserByID(id string) *storage.User {
	if id == "sid1" {
		return &storage.User{ID: "sid1", Username: "sid1", IsAdmin: true}
	}
	return u.UserStore.GetUserByID(id)
}

// newZitadelOP starts zitadel/oidc's OpenID Provider (pkg/op, with its
// example storage, which implements op.TokenExchangeStorage) on 127.0.0.1:
// service user sid1/verysecret may use client_credentials, and the web
// client "tokend-exchanger" may use the token-exchange grant (RFC 8693).
func newZitadelOP(t *testing.T) (*httptest.Server, *storage.Storage) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	t.Cleanup(srv.Close)
	storage.RegisterClients(storage.WebClient("tokend-exchanger", "exchanger-secret-value"))
	st := storage.NewStorage(serviceUserIsAdmin{storage.NewUserStore(srv.URL)})
	cfg := &op.Config{CryptoKey: sha256.Sum256([]byte("tokend interop test key")), CodeMethodS256: true, AuthMethodPost: true}
	p, err := op.NewProvider(cfg, st, op.StaticIssuer(srv.URL), op.WithAllowInsecure())
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = p
	return srv, st
}

// TestZitadelTokenExchange: a client_credentials credential ("upstream",
// zitadel's service user) and a token_exchange credential that presents
// upstream's current access token as the subject token (subject_credential)
// both run in one daemon against zitadel's OP; the exchanged token is a new
// one that zitadel's userinfo endpoint accepts, and zitadel's answer says
// issued_token_type access_token.
func TestZitadelTokenExchange(t *testing.T) {
	srv, _ := newZitadelOP(t)
	tokenURL := srv.URL + "/oauth/token"
	dir := t.TempDir()
	toml := fmt.Sprintf(`
[state]
dir = %[1]q
[[credential]]
name = "upstream"
grant = "client_credentials"
token_url = %[2]q
client_id = "sid1"
client_secret = "verysecret"
scopes = ["openid"]
  [[credential.sink]]
  type = "file"
  path = %[3]q
[[credential]]
name = "exchanged"
grant = "token_exchange"
token_url = %[2]q
client_id = "tokend-exchanger"
client_secret = "exchanger-secret-value"
subject_credential = "upstream"
requested_token_type = "urn:ietf:params:oauth:token-type:access_token"
scopes = ["openid"]
  [[credential.sink]]
  type = "file"
  path = %[4]q
`, filepath.Join(dir, "state"), tokenURL, filepath.Join(dir, "upstream.token"), filepath.Join(dir, "exchanged.token"))
	cfgPath := filepath.Join(dir, "tokend.toml")
	if err := os.WriteFile(cfgPath, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.ResolveSecrets(); err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	log, _ := logging.New(logs, "debug")
	d, err := daemon.New(cfg, log, scheduler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(dir, name+".token"))
		return strings.TrimSpace(string(b))
	}
	deadline := time.Now().Add(30 * time.Second)
	for read("exchanged") == "" {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("no exchanged token; logs:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	upstream, exchanged := read("upstream"), read("exchanged")
	if upstream == "" || exchanged == upstream {
		t.Fatal("the exchange did not give a new token")
	}
	userinfo := func(tok string) int {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := userinfo(exchanged); code != http.StatusOK {
		t.Errorf("zitadel's userinfo refuses the exchanged token: HTTP %d", code)
	}
	if code := userinfo("not-a-token"); code == http.StatusOK {
		t.Error("userinfo accepts anything: the check above proves nothing")
	}
	for _, s := range []string{upstream, exchanged, "verysecret", "exchanger-secret-value"} {
		if strings.Contains(logs.String(), s) {
			t.Fatal("a token or a client secret appears in the logs")
		}
	}

	// The answer's issued_token_type, through the client directly.
	cr, _ := cfg.Credential("exchanged")
	gc := cr.GrantsConfig()
	gc.CredentialToken = func(context.Context, string) (secret.Secret, error) { return secret.New(upstream), nil }
	c, err := grants.New(gc)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.Renew(context.Background(), secret.Secret{})
	if err != nil || tok.IssuedTokenType != grants.TokenTypeAccessToken {
		t.Fatalf("direct exchange: %v, issued_token_type %q", err, tok.IssuedTokenType)
	}
	// A subject token zitadel never issued is refused, permanently.
	gc.CredentialToken = func(context.Context, string) (secret.Secret, error) { return secret.New("forged-subject"), nil }
	c, _ = grants.New(gc)
	if _, err := c.Renew(context.Background(), secret.Secret{}); !grants.IsPermanent(err) {
		t.Fatalf("forged subject token: %v", err)
	}
	t.Logf("zitadel OP: exchanged a client_credentials token (subject_credential) for a new access token, issued_token_type %s", tok.IssuedTokenType)
}
