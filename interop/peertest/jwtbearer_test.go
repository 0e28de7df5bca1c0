package peertest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/storage"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/daemon"
	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/jwtsign"
	"github.com/tokend/tokend/internal/logging"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/syncbuf"
)

// fositeJWTBearer is fosite's RFC 7523 §2.1 grant (compose.RFC7523AssertionGrantFactory)
// trusting one public key for issuer "svc-issuer", subject "svc-subject",
// kid = its JWK thumbprint, for scopes read and write. fosite checks the
// signature, aud = its token URL, exp, iat, a jti never seen before and
// the scopes; no client authentication (RFC 7523 §3.1).
type fositeJWTBearer struct {
	srv     *httptest.Server
	issued  sync.Map // access tokens issued
	refused atomic.Int64
	hints   sync.Map // fosite's reason for each refusal
}

func newFositeJWTBearer(t *testing.T, pub *ecdsa.PublicKey, kid string, ttl time.Duration) *fositeJWTBearer {
	t.Helper()
	f := &fositeJWTBearer{srv: httptest.NewUnstartedServer(nil)}
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	cfg := &fosite.Config{
		AccessTokenLifespan:                 ttl,
		GlobalSecret:                        []byte("some-super-secret-32-byte-value!"),
		TokenURL:                            f.srv.URL + "/token",
		GrantTypeJWTBearerCanSkipClientAuth: true,
		HashCost:                            4,
	}
	store := storage.NewMemoryStore()
	store.IssuerPublicKeys["svc-issuer"] = storage.IssuerPublicKeys{Issuer: "svc-issuer", KeysBySub: map[string]storage.SubjectPublicKeys{
		"svc-subject": {Subject: "svc-subject", Keys: map[string]storage.PublicKeyScopes{
			kid: {Key: &jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: "ES256", Use: "sig"}, Scopes: []string{"read", "write"}},
		}},
	}}
	provider := compose.Compose(cfg, store, &compose.CommonStrategy{CoreStrategy: compose.NewOAuth2HMACStrategy(cfg)},
		compose.RFC7523AssertionGrantFactory)
	f.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		ar, err := provider.NewAccessRequest(ctx, r, &fosite.DefaultSession{})
		if err == nil {
			var resp fosite.AccessResponder
			if resp, err = provider.NewAccessResponse(ctx, ar); err == nil {
				f.issued.Store(resp.GetAccessToken(), true)
				provider.WriteAccessResponse(ctx, w, ar, resp)
				return
			}
		}
		f.refused.Add(1)
		f.hints.Store(fosite.ErrorToRFC6749Error(err).HintField, true)
		provider.WriteAccessError(ctx, w, ar, err)
	})
	return f
}

// TestFositeJWTBearer: tokend's jwt_bearer credential (an EC key from a
// PEM file, ES256, kid = thumbprint) gets tokens from fosite's RFC 7523
// grant through a running daemon, again and again ahead of expiry (each
// assertion with a fresh jti, or fosite would refuse it as replayed), and
// every one reaches the sink. A key fosite does not trust is refused with
// invalid_grant, which tokend classifies as permanent.
func TestFositeJWTBearer(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kid, err := jwtsign.Thumbprint(key) // what tokend sends as kid when key_id is unset
	if err != nil {
		t.Fatal(err)
	}
	f := newFositeJWTBearer(t, &key.PublicKey, kid, 2*time.Second)
	dir := t.TempDir()
	der, _ := x509.MarshalECPrivateKey(key)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	if err := os.WriteFile(filepath.Join(dir, "svc.pem"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	toml := fmt.Sprintf(`
[state]
dir = %q
[[credential]]
name = "svc"
grant = "jwt_bearer"
token_url = %q
private_key_file = %q
assertion_issuer = "svc-issuer"
assertion_subject = "svc-subject"
scopes = ["read"]
  [[credential.sink]]
  type = "file"
  path = %q
`, filepath.Join(dir, "state"), f.srv.URL+"/token", filepath.Join(dir, "svc.pem"), filepath.Join(dir, "svc.token"))
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
	cnt := &counter{}
	d, err := daemon.New(cfg, log, scheduler.Options{Observer: cnt, MinInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for cnt.ok.Load() < 4 {
		if time.Now().After(deadline) || cnt.failed.Load() > 0 {
			cancel()
			<-done
			t.Fatalf("tokend: %d tokens, %d failures (last %v); fosite refused %d", cnt.ok.Load(), cnt.failed.Load(), cnt.lastErr, f.refused.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	sink, _ := os.ReadFile(filepath.Join(dir, "svc.token"))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, ok := f.issued.Load(strings.TrimSpace(string(sink))); !ok || f.refused.Load() != 0 {
		t.Fatalf("the sink does not hold a token fosite issued (refused %d)", f.refused.Load())
	}
	if strings.Contains(logs.String(), strings.TrimSpace(string(sink))) || strings.Contains(logs.String(), string(keyPEM[40:80])) {
		t.Fatal("a token or the key appears in the logs")
	}

	// A key fosite does not trust: invalid_grant, permanent.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ = x509.MarshalECPrivateKey(other)
	if err := os.WriteFile(filepath.Join(dir, "other.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	o := &grants.JWTBearerOptions{KeyOptions: grants.KeyOptions{PrivateKeyFile: filepath.Join(dir, "other.pem")},
		AssertionIssuer: "svc-issuer", AssertionSubject: "svc-subject"}
	o.Defaults()
	if err := o.ResolveSecrets(config.ReadSecretFile); err != nil {
		t.Fatal(err)
	}
	c, err := grants.New(grants.Config{Name: "untrusted", Grant: grants.GrantJWTBearer, TokenURL: f.srv.URL + "/token",
		AuthStyle: grants.AuthNone, GrantOptions: o})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Renew(context.Background(), secret.Secret{})
	if !grants.IsPermanent(err) || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("untrusted key: %v", err)
	}
	t.Logf("fosite RFC 7523: %d tokens through the daemon, each from a fresh assertion; an untrusted key: %v", cnt.ok.Load(), err)
}
