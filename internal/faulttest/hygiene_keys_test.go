package faulttest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/daemon"
	"github.com/tokend/tokend/internal/jwtsign"
	"github.com/tokend/tokend/internal/logging"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/status"
	"github.com/tokend/tokend/internal/syncbuf"
	"github.com/tokend/tokend/internal/testkit"
)

// assertionProvider is a client_credentials token endpoint for the
// key-based auth styles: it verifies private_key_jwt assertions with the
// registered public key and client_secret_jwt ones with the secret, takes a
// client_assertion as it comes, and refuses client "bad" while echoing its
// assertion back in the error. It records every assertion it received and
// every token it issued.
type assertionProvider struct {
	pub    any
	secret []byte
	mu     sync.Mutex
	seen   []string
	n      int
}

func (p *assertionProvider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(b))
	a := form.Get("client_assertion")
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = append(p.seen, a)
	w.Header().Set("Content-Type", "application/json")
	ok := false
	switch form.Get("client_id") {
	case "pkj":
		if jws, err := jose.ParseSigned(a, []jose.SignatureAlgorithm{jose.ES256}); err == nil {
			_, err = jws.Verify(p.pub)
			ok = err == nil
		}
	case "csj":
		if jws, err := jose.ParseSigned(a, []jose.SignatureAlgorithm{jose.HS256}); err == nil {
			_, err = jws.Verify(p.secret)
			ok = err == nil
		}
	case "wif":
		ok = strings.HasPrefix(a, "eyJ")
	}
	if !ok {
		w.WriteHeader(401)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": "assertion " + a + " is not valid"})
		return
	}
	p.n++
	tok := fmt.Sprintf("AT-minted-%s-%04d", form.Get("client_id"), p.n)
	p.seen = append(p.seen, tok)
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3})
}

func (p *assertionProvider) values() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

// TestNoKeyOrAssertionInLogsStatusOrMetrics runs a daemon at debug level
// with private_key_jwt, client_secret_jwt and client_assertion credentials
// through several renewals, a refused one whose provider echoes the
// assertion, and a reload, then scans the logs, the errors, the status
// JSON, /metrics and the snapshot for the signing key, the client secret,
// every assertion (and its signature) and every minted token.
func TestNoKeyOrAssertionInLogsStatusOrMetrics(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	keyFile, badKeyFile := filepath.Join(dir, "svc.pem"), filepath.Join(dir, "other.pem")
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	oder, _ := x509.MarshalPKCS8PrivateKey(other)
	otherPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: oder})
	const csjSecret = "csj-shared-secret-4d1e-0123456789abcdef"
	signer, _ := jwtsign.NewSigner(other, jwtsign.ES256, jwtsign.Header{})
	wif, _ := signer.Assertion("wif", "wif", []string{"aud"}, time.Now(), time.Hour, nil)
	for name, data := range map[string][]byte{"svc.pem": keyPEM, "other.pem": otherPEM, "wif.jwt": []byte(wif), "csj.secret": []byte(csjSecret)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p := &assertionProvider{pub: key.Public(), secret: []byte(csjSecret)}
	srv := httptest.NewServer(p)
	defer srv.Close()
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	cred := func(name, auth string) string {
		return fmt.Sprintf(`
[[credential]]
name = %q
grant = "client_credentials"
token_url = %q
client_id = %q
%s
refresh_before = "1s"
  [[credential.sink]]
  type = "file"
  path = %q
`, name, srv.URL+"/token", strings.TrimSuffix(name, "-bad"), auth, filepath.Join(out, name+".token"))
	}
	cfgText := fmt.Sprintf("[state]\ndir = %q\n[status]\nlisten = \"127.0.0.1:0\"\n", filepath.Join(dir, "state")) +
		cred("pkj", fmt.Sprintf("auth_style = \"private_key_jwt\"\nprivate_key_file = %q", keyFile)) +
		cred("pkj-bad", fmt.Sprintf("auth_style = \"private_key_jwt\"\nprivate_key_file = %q", badKeyFile)) +
		cred("csj", fmt.Sprintf("auth_style = \"client_secret_jwt\"\nclient_secret_file = %q", filepath.Join(dir, "csj.secret"))) +
		cred("wif", fmt.Sprintf("auth_style = \"client_assertion\"\nclient_assertion_file = %q", filepath.Join(dir, "wif.jwt")))
	cfgFn := filepath.Join(dir, "tokend.toml")
	if err := os.WriteFile(cfgFn, []byte(cfgText), 0o600); err != nil {
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
	d, err := daemon.New(cfg, log, scheduler.Options{Backoff: testBackoff, MinInterval: 200 * time.Millisecond})
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
	gen := func(name string) uint64 { st, _ := c.Credential(ctx, name); return st.Generation }
	testkit.WaitUntil(t, "the key-based credentials to renew twice", 20*time.Second, func() bool {
		return gen("pkj") >= 2 && gen("csj") >= 2 && gen("wif") >= 2
	})
	testkit.WaitUntil(t, "pkj-bad to fail", 20*time.Second, func() bool {
		st, _ := c.Credential(ctx, "pkj-bad")
		return st.Status == "needs_reauth" || st.Status == "failing" || st.LastError != nil
	})
	errs := []error{c.Reload(ctx), c.Refresh(ctx, "pkj-bad")}
	testkit.WaitUntil(t, "pkj to renew after the reload", 20*time.Second, func() bool { return gen("pkj") >= 3 })

	var surface strings.Builder
	surface.WriteString(logs.String())
	for _, e := range errs {
		if e != nil {
			surface.WriteString(e.Error() + "\n")
		}
	}
	for _, path := range []string{"/v1/credentials", "/v1/credentials/pkj", "/v1/credentials/pkj-bad", "/metrics", "/readyz"} {
		resp, err := http.Get("http://" + d.StatusAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		surface.Write(b)
	}
	snap, _ := json.Marshal(d.Snapshot())
	surface.Write(snap)
	all := surface.String()

	secrets := []string{csjSecret, wif, wif[strings.LastIndexByte(wif, '.')+1:]}
	for _, k := range [][]byte{keyPEM, otherPEM} {
		body := strings.Join(strings.Split(strings.TrimSpace(string(k)), "\n")[1:2], "")
		secrets = append(secrets, body[:40])
	}
	seen := p.values()
	if len(seen) < 10 {
		t.Fatalf("only %d assertions and tokens seen by the provider", len(seen))
	}
	for _, v := range seen {
		if v == "" {
			continue
		}
		secrets = append(secrets, v)
		if parts := strings.Split(v, "."); len(parts) == 3 {
			// The claims, the signature, and the start of the claims: a
			// provider's description is cut at 200 characters, so a leak may
			// hold only a piece.
			secrets = append(secrets, parts[1], parts[2], parts[1][:min(32, len(parts[1]))])
		}
	}
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("a secret (%s…) appears in logs, errors, status JSON or metrics", s[:min(8, len(s))])
		}
	}
	for _, want := range []string{`"credential":"pkj-bad"`, "invalid_client", "tokend_refresh_attempts_total", `"name":"wif"`} {
		if !strings.Contains(all, want) {
			t.Fatalf("the scanned output lacks %s: the code paths did not run", want)
		}
	}
	t.Logf("scanned %d bytes for %d secret values", len(all), len(secrets))
}
