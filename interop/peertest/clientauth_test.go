package peertest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/storage"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/jwtsign"
	"github.com/tokend/tokend/internal/secret"
)

// fositeClientAuth is fosite's token endpoint with the client_credentials
// grant and its own client authentication (RFC 7523 §2.2 private_key_jwt:
// the assertion's signature against the client's registered JWKS, its alg
// against token_endpoint_auth_signing_alg, iss = sub = client_id, aud = the
// token URL, exp, and a jti it has not seen before).
type fositeClientAuth struct {
	srv      *httptest.Server
	store    *storage.MemoryStore
	tokenURL string
	refused  atomic.Int64
	lastErr  atomic.Value
}

func newFositeClientAuth(t *testing.T) *fositeClientAuth {
	t.Helper()
	f := &fositeClientAuth{store: storage.NewMemoryStore()}
	cfg := &fosite.Config{AccessTokenLifespan: time.Hour, GlobalSecret: []byte("some-super-secret-32-byte-value!"), HashCost: 4}
	provider := compose.Compose(cfg, f.store, &compose.CommonStrategy{CoreStrategy: compose.NewOAuth2HMACStrategy(cfg)},
		compose.OAuth2ClientCredentialsGrantFactory)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		ar, err := provider.NewAccessRequest(ctx, r, &fosite.DefaultSession{})
		if err == nil {
			for _, s := range ar.GetRequestedScopes() {
				ar.GrantScope(s)
			}
			var resp fosite.AccessResponder
			if resp, err = provider.NewAccessResponse(ctx, ar); err == nil {
				provider.WriteAccessResponse(ctx, w, ar, resp)
				return
			}
		}
		f.refused.Add(1)
		f.lastErr.Store(fosite.ErrorToRFC6749Error(err).WithExposeDebug(true).GetDescription())
		provider.WriteAccessError(ctx, w, ar, err)
	}))
	t.Cleanup(f.srv.Close)
	f.tokenURL = f.srv.URL + "/oauth2/token"
	cfg.TokenURL = f.tokenURL
	return f
}

// register adds a private_key_jwt client whose JWKS holds key's public
// half under kid, bound to alg.
func (f *fositeClientAuth) register(id string, key crypto.Signer, kid, alg string) {
	f.store.Clients[id] = &fosite.DefaultOpenIDConnectClient{
		DefaultClient: &fosite.DefaultClient{ID: id, GrantTypes: []string{"client_credentials"}, Scopes: []string{"api.read"}},
		JSONWebKeys: &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: key.Public(), KeyID: kid, Use: "sig", Algorithm: alg},
		}},
		TokenEndpointAuthMethod:           "private_key_jwt",
		TokenEndpointAuthSigningAlgorithm: alg,
	}
}

func (f *fositeClientAuth) why() string {
	s, _ := f.lastErr.Load().(string)
	return s
}

func writeKey(t *testing.T, dir, name string, key crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// clientFor decodes one client_credentials credential with the given auth
// keys through tokend's config (decode, validate, ResolveSecrets) and
// builds its grants client.
func clientFor(t *testing.T, tokenURL, clientID, authKeys string) *grants.Client {
	t.Helper()
	doc := fmt.Sprintf(`[state]
dir = %q
[[credential]]
name = %q
grant = "client_credentials"
token_url = %q
client_id = %q
scopes = ["api.read"]
%s
  [[credential.sink]]
  type = "file"
  path = %q
`, t.TempDir(), clientID, tokenURL, clientID, authKeys, filepath.Join(t.TempDir(), "token"))
	cfg, err := config.Decode([]byte(doc))
	if err != nil {
		t.Fatalf("config:\n%s\n%v", doc, err)
	}
	if err := cfg.ResolveSecrets(); err != nil {
		t.Fatal(err)
	}
	c, err := grants.New(cfg.Credentials[0].GrantsConfig())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestFositePrivateKeyJWT: tokend's private_key_jwt assertions are accepted
// by fosite for RS256, PS256 and ES256 keys registered by JWK thumbprint
// (tokend's default kid) or by an explicit key_id; every request carries a
// fresh jti (fosite refuses a seen one), so two requests in a row both pass.
// A key fosite does not know is refused.
func TestFositePrivateKeyJWT(t *testing.T) {
	f := newFositeClientAuth(t)
	dir := t.TempDir()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaThumb, _ := jwtsign.Thumbprint(rsaKey)
	ecThumb, _ := jwtsign.Thumbprint(ecKey)
	rsaFile, ecFile := writeKey(t, dir, "rsa.pem", rsaKey), writeKey(t, dir, "ec.pem", ecKey)
	f.register("svc-rs256", rsaKey, rsaThumb, "RS256")
	f.register("svc-ps256", rsaKey, "ps-key-1", "PS256")
	f.register("svc-es256", ecKey, ecThumb, "ES256")
	for _, tc := range []struct{ id, keys string }{
		{"svc-rs256", fmt.Sprintf("auth_style = \"private_key_jwt\"\nprivate_key_file = %q", rsaFile)},
		{"svc-ps256", fmt.Sprintf("auth_style = \"private_key_jwt\"\nprivate_key_file = %q\nsigning_alg = \"PS256\"\nkey_id = \"ps-key-1\"", rsaFile)},
		{"svc-es256", fmt.Sprintf("auth_style = \"private_key_jwt\"\nprivate_key_file = %q", ecFile)},
	} {
		c := clientFor(t, f.tokenURL, tc.id, tc.keys)
		for i := range 2 {
			tok, err := c.Renew(context.Background(), secret.Secret{})
			if err != nil {
				t.Fatalf("%s request %d: %v (fosite: %s)", tc.id, i+1, err, f.why())
			}
			if tok.AccessToken.IsZero() || tok.ExpiresAt.IsZero() {
				t.Fatalf("%s: token without value or expiry", tc.id)
			}
		}
	}
	if n := f.refused.Load(); n != 0 {
		t.Fatalf("fosite refused %d requests: %s", n, f.why())
	}
	// Negative control: the EC key presented for the RSA client.
	c := clientFor(t, f.tokenURL, "svc-rs256", fmt.Sprintf("auth_style = \"private_key_jwt\"\nprivate_key_file = %q\nkey_id = %q", ecFile, rsaThumb))
	if _, err := c.Renew(context.Background(), secret.Secret{}); !grants.IsPermanent(err) || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("a key fosite does not know: err = %v", err)
	}
}

// TestFositeClientAssertionFile: an assertion minted outside tokend (as
// kubelet mints a projected service-account token) and rotated in its file
// between two requests: tokend reads the file for each request, so fosite
// sees two assertions with two jtis and accepts both. A stale copy of the
// first would be refused (jti already used), as the negative control shows.
func TestFositeClientAssertionFile(t *testing.T) {
	f := newFositeClientAuth(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f.register("wif-app", key, "kubelet-1", "ES256")
	signer, err := jwtsign.NewSigner(key, jwtsign.ES256, jwtsign.Header{KeyID: "kubelet-1"})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "azure-identity-token")
	mint := func() string {
		a, err := signer.Assertion("wif-app", "wif-app", []string{f.tokenURL}, time.Now(), 10*time.Minute, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+".tmp", []byte(a+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil { // kubelet swaps a symlink: atomic
			t.Fatal(err)
		}
		return a
	}
	c := clientFor(t, f.tokenURL, "wif-app", fmt.Sprintf("auth_style = \"client_assertion\"\nclient_assertion_file = %q", path))
	first := mint()
	if _, err := c.Renew(context.Background(), secret.Secret{}); err != nil {
		t.Fatalf("first assertion: %v (fosite: %s)", err, f.why())
	}
	if second := mint(); second == first {
		t.Fatal("the minted assertions are equal")
	}
	if _, err := c.Renew(context.Background(), secret.Secret{}); err != nil {
		t.Fatalf("rotated assertion: %v (fosite: %s)", err, f.why())
	}
	if n := f.refused.Load(); n != 0 {
		t.Fatalf("fosite refused %d requests", n)
	}
	// Negative control: the first assertion again (what a cached copy would send).
	if err := os.WriteFile(path, []byte(first), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Renew(context.Background(), secret.Secret{}); err == nil || f.refused.Load() != 1 {
		t.Fatalf("a reused assertion was accepted: %v", err)
	}
}
