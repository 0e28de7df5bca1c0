package grants

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokend/tokend/internal/jwtsign"
	"github.com/tokend/tokend/internal/secret"
)

// assertionCheck is what a strict verifier requires of a client assertion.
type assertionCheck struct {
	key      any    // verification key: public key or []byte
	alg      string // the only algorithm accepted
	kid      string // "" = no kid required
	x5t      string // required x5t#S256; "" = none allowed
	clientID string
	aud      string
	now      time.Time
	maxLife  time.Duration
}

// verifyAssertion checks a client-assertion request body as Microsoft
// Entra documents it: client_assertion_type, client_id, and a JWT with the
// one expected alg, kid and x5t#S256 headers, a valid signature, iss = sub
// = client_id, aud the token endpoint, iat <= now < exp, exp - iat within
// maxLife, and a jti. It returns the jti, or a description of the first
// violation.
func verifyAssertion(form url.Values, c assertionCheck) (string, string) {
	if form.Get("client_assertion_type") != ClientAssertionType {
		return "", "client_assertion_type"
	}
	if form.Get("client_id") != c.clientID || form.Has("client_secret") {
		return "", "client_id / client_secret"
	}
	jws, err := jose.ParseSigned(form.Get("client_assertion"), []jose.SignatureAlgorithm{jose.SignatureAlgorithm(c.alg)})
	if err != nil {
		return "", "parse: " + err.Error()
	}
	h := jws.Signatures[0].Protected
	if h.KeyID != c.kid {
		return "", fmt.Sprintf("kid %q, want %q", h.KeyID, c.kid)
	}
	if got, _ := h.ExtraHeaders["x5t#S256"].(string); got != c.x5t {
		return "", fmt.Sprintf("x5t#S256 %q, want %q", got, c.x5t)
	}
	payload, err := jws.Verify(c.key)
	if err != nil {
		return "", "signature: " + err.Error()
	}
	var cl struct {
		Iss, Sub, Aud, Jti string
		Iat, Exp           int64
	}
	if err := json.Unmarshal(payload, &cl); err != nil {
		return "", "claims: " + err.Error()
	}
	switch {
	case cl.Iss != c.clientID || cl.Sub != c.clientID:
		return "", "iss/sub"
	case cl.Aud != c.aud:
		return "", fmt.Sprintf("aud %q, want %q", cl.Aud, c.aud)
	case cl.Iat > c.now.Unix() || cl.Exp <= c.now.Unix():
		return "", "not valid now"
	case time.Duration(cl.Exp-cl.Iat)*time.Second > c.maxLife:
		return "", "lifetime too long"
	case cl.Jti == "":
		return "", "no jti"
	}
	return cl.Jti, ""
}

// strictAssertionServer answers a token only to requests verifyAssertion
// accepts and whose jti is new; it records the jtis and assertions.
type strictAssertionServer struct {
	*httptest.Server
	mu         sync.Mutex
	jtis       map[string]bool
	assertions []string
	refusals   []string
}

func newStrictAssertionServer(t *testing.T, c func(tokenURL string) assertionCheck) *strictAssertionServer {
	t.Helper()
	s := &strictAssertionServer{jtis: map[string]bool{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(b))
		jti, why := verifyAssertion(form, c(s.URL+"/oauth/token"))
		s.mu.Lock()
		defer s.mu.Unlock()
		if why == "" && s.jtis[jti] {
			why = "jti reused"
		}
		w.Header().Set("Content-Type", "application/json")
		if why != "" || r.Header.Get("Authorization") != "" {
			s.refusals = append(s.refusals, why)
			w.WriteHeader(401)
			_, _ = io.WriteString(w, `{"error":"invalid_client","error_description":"AADSTS700027: assertion refused"}`)
			return
		}
		s.jtis[jti] = true
		s.assertions = append(s.assertions, form.Get("client_assertion"))
		_, _ = io.WriteString(w, okBody)
	}))
	t.Cleanup(s.Close)
	return s
}

// TestPrivateKeyJWTEntraCertificate: a certificate credential as Microsoft
// Entra verifies it: RS256, x5t#S256 of the registered certificate,
// signature by its key, aud = the token endpoint, exp <= 10 minutes, a
// fresh jti for every request.
func TestPrivateKeyJWTEntraCertificate(t *testing.T) {
	key := testKeys().rsa
	cert := selfSigned(t, key, "tokend-entra", false, nil, nil)
	sum := sha256.Sum256(cert.Raw)
	o := pkjOptions(t, key, cert, func(o *PrivateKeyJWTOptions) { o.KeyID = "entra-key-1" })
	srv := newStrictAssertionServer(t, func(tokenURL string) assertionCheck {
		return assertionCheck{key: cert.PublicKey, alg: "RS256", kid: "entra-key-1", x5t: base64.RawURLEncoding.EncodeToString(sum[:]),
			clientID: "client-id", aud: tokenURL, now: testNow, maxLife: 10 * time.Minute}
	})
	c := newTestClient(t, srv.URL, func(cfg *Config) {
		cfg.AuthStyle, cfg.AuthOptions, cfg.ClientSecret = AuthPrivateKeyJWT, o, secret.Secret{}
	})
	for range 2 {
		if _, err := c.ClientCredentials(context.Background()); err != nil {
			t.Fatalf("refused (%v): %v", srv.refusals, err)
		}
	}
	if len(srv.jtis) != 2 || srv.assertions[0] == srv.assertions[1] {
		t.Fatalf("want two different assertions with two jtis, got %d jtis", len(srv.jtis))
	}
}

// TestPrivateKeyJWTAlgorithms: RS256 (the RSA default), PS256 and ES256
// (the P-256 default), each verified with the public key; kid defaults to
// the RFC 7638 thumbprint; assertion_audience replaces the token endpoint.
func TestPrivateKeyJWTAlgorithms(t *testing.T) {
	for _, tc := range []struct {
		key crypto.Signer
		alg string // configured; "" = default
		use string
	}{{testKeys().rsa, "", "RS256"}, {testKeys().rsa, "PS256", "PS256"}, {testKeys().ec, "", "ES256"}} {
		t.Run(tc.use, func(t *testing.T) {
			kid, _ := jwtsign.Thumbprint(tc.key)
			o := pkjOptions(t, tc.key, nil, func(o *PrivateKeyJWTOptions) {
				o.SigningAlg, o.AssertionAudience = tc.alg, "https://issuer.example/"
			})
			srv := newStrictAssertionServer(t, func(string) assertionCheck {
				return assertionCheck{key: tc.key.Public(), alg: tc.use, kid: kid, clientID: "client-id",
					aud: "https://issuer.example/", now: testNow, maxLife: AssertionLifetime}
			})
			c := newTestClient(t, srv.URL, func(cfg *Config) { cfg.AuthStyle, cfg.AuthOptions = AuthPrivateKeyJWT, o })
			if _, err := c.ClientCredentials(context.Background()); err != nil {
				t.Fatalf("refused (%v): %v", srv.refusals, err)
			}
		})
	}
}

// TestPrivateKeyJWTRefusesBadKeys: what ResolveSecrets refuses, each error
// naming the file or key and never holding key material.
func TestPrivateKeyJWTRefusesBadKeys(t *testing.T) {
	dir := t.TempDir()
	rsaKey, ecKey := testKeys().rsa, testKeys().ec
	rsaPEM := keyPEM(t, rsaKey)
	other := selfSigned(t, ecKey, "other", false, nil, nil)
	t.Setenv("TOKEND_TEST_KEY", string(keyPEM(t, ecKey)))
	for _, tc := range []struct {
		name string
		o    PrivateKeyJWTOptions
		want string
	}{
		{"world-readable", PrivateKeyJWTOptions{PrivateKeyFile: writeFile(t, dir, "loose.pem", rsaPEM, 0o604)}, "is readable or writable by other users (mode 0604)"},
		{"group-writable", PrivateKeyJWTOptions{PrivateKeyFile: writeFile(t, dir, "gw.pem", rsaPEM, 0o620)}, "(mode 0620)"},
		{"alg for another key type", PrivateKeyJWTOptions{PrivateKeyFile: writeFile(t, dir, "a.pem", rsaPEM, 0o600), SigningAlg: "ES256"}, "does not fit an RSA key"},
		{"certificate of another key", PrivateKeyJWTOptions{PrivateKeyFile: writeFile(t, dir, "b.pem", rsaPEM, 0o600),
			CertificateFile: writeFile(t, dir, "other.crt", certPEM(other), 0o644)}, "is not the certificate of the private key"},
		{"not a key", PrivateKeyJWTOptions{PrivateKeyFile: writeFile(t, dir, "c.pem", certPEM(other), 0o600)}, "no PEM private key found"},
		{"unset variable", PrivateKeyJWTOptions{PrivateKeyEnv: "TOKEND_TEST_NO_SUCH_KEY"}, "environment variable TOKEND_TEST_NO_SUCH_KEY is not set"},
	} {
		err := tc.o.ResolveSecrets(readForTest)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "PRIVATE KEY-----") || strings.Contains(err.Error(), string(rsaPEM[40:80])) {
			t.Errorf("%s: error holds key material: %v", tc.name, err)
		}
	}
	env := PrivateKeyJWTOptions{PrivateKeyEnv: "TOKEND_TEST_KEY"}
	if err := env.ResolveSecrets(readForTest); err != nil || !env.Loaded() {
		t.Errorf("key from the environment: %v", err)
	}
	var bad []string
	(&PrivateKeyJWTOptions{SigningAlg: "HS256", AssertionAudience: "not a url"}).Validate(func(f, format string, a ...any) {
		bad = append(bad, f)
	})
	if strings.Join(bad, ",") != "private_key_file,signing_alg,assertion_audience" {
		t.Errorf("Validate reported %v", bad)
	}
}

// TestClientSecretJWT: an HS256 assertion keyed with the client secret,
// verified with it; a secret under 32 bytes is refused by New (at start-up,
// once secrets are read) without quoting it.
func TestClientSecretJWT(t *testing.T) {
	srv := newStrictAssertionServer(t, func(tokenURL string) assertionCheck {
		return assertionCheck{key: []byte(longSecret), alg: "HS256", clientID: "client-id", aud: tokenURL, now: testNow, maxLife: AssertionLifetime}
	})
	c := newTestClient(t, srv.URL, func(cfg *Config) { cfg.AuthStyle, cfg.ClientSecret = AuthClientSecretJWT, secret.New(longSecret) })
	if _, err := c.ClientCredentials(context.Background()); err != nil {
		t.Fatalf("refused (%v): %v", srv.refusals, err)
	}
	cfg := c.Config()
	cfg.ClientSecret = secret.New("short-secret-xyz")
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "at least 32 bytes for HS256 (RFC 7518 §3.2), not 16") ||
		strings.Contains(err.Error(), "short-secret-xyz") {
		t.Errorf("short secret: %v", err)
	}
	if len(srv.jtis) != 1 {
		t.Errorf("server saw %d good requests, want 1", len(srv.jtis))
	}
}

// TestClientAssertionFileIsReadPerRequest: the assertion file is read for
// every request (a projected token rotates), so two requests around a
// rotation send two assertions; a missing or empty file is a transient
// error that names the file and not its content.
func TestClientAssertionFileIsReadPerRequest(t *testing.T) {
	ep := newEndpoint(t, reply{Body: okBody})
	dir := t.TempDir()
	path := writeFile(t, dir, "azure-identity-token", []byte("eyJ.first-projected.sig\n"), 0o644)
	c := newTestClient(t, ep.URL, func(cfg *Config) {
		cfg.AuthStyle, cfg.ClientSecret = AuthClientAssertion, secret.Secret{}
		cfg.AuthOptions = &ClientAssertionOptions{ClientAssertionFile: path}
	})
	send := func() error { _, err := c.ClientCredentials(context.Background()); return err }
	if err := send(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "azure-identity-token", []byte("eyJ.second-projected.sig"), 0o644)
	if err := send(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range ep.reqs {
		form, _ := url.ParseQuery(r.Body)
		if form.Get("client_assertion_type") != ClientAssertionType || form.Get("client_id") != "client-id" {
			t.Errorf("request %q", r.Body)
		}
		got = append(got, form.Get("client_assertion"))
	}
	if strings.Join(got, " ") != "eyJ.first-projected.sig eyJ.second-projected.sig" {
		t.Fatalf("assertions sent: %q", got)
	}
	for content, want := range map[string]string{"": "is empty", "\n \n": "is empty", "a.b.c\nd.e.f": "holds more than one token"} {
		writeFile(t, dir, "azure-identity-token", []byte(content), 0o644)
		err := send()
		if ClassOf(err) != ClassTransient || !strings.Contains(err.Error(), "client_assertion_file "+path+": "+want) ||
			(content != "" && strings.Contains(err.Error(), "a.b.c")) {
			t.Errorf("content %q: err = %v", content, err)
		}
	}
	_ = os.Remove(path)
	if err := send(); ClassOf(err) != ClassTransient || !strings.Contains(err.Error(), path+": does not exist") {
		t.Errorf("missing file: %v", err)
	}
	if n := ep.count(); n != 2 {
		t.Errorf("%d requests sent, want 2 (none without an assertion)", n)
	}
}

// TestStrictVerifierRefuses is the negative control of verifyAssertion:
// the assertions Entra refuses are refused by it too.
func TestStrictVerifierRefuses(t *testing.T) {
	key := testKeys().rsa
	s, err := jwtsign.NewSigner(key, "RS256", jwtsign.Header{KeyID: "k"})
	if err != nil {
		t.Fatal(err)
	}
	check := assertionCheck{key: key.Public(), alg: "RS256", kid: "k", clientID: "c", aud: "https://t/token", now: testNow, maxLife: 10 * time.Minute}
	for name, mint := range map[string]func() (string, error){
		"11 minutes": func() (string, error) {
			return s.Assertion("c", "c", []string{"https://t/token"}, testNow, 11*time.Minute, nil)
		},
		"expired": func() (string, error) {
			return s.Assertion("c", "c", []string{"https://t/token"}, testNow.Add(-5*time.Minute), time.Minute, nil)
		},
		"other audience": func() (string, error) {
			return s.Assertion("c", "c", []string{"https://t/other"}, testNow, time.Minute, nil)
		},
		"other subject": func() (string, error) {
			return s.Assertion("c", "d", []string{"https://t/token"}, testNow, time.Minute, nil)
		},
		"other key": func() (string, error) {
			o, _ := jwtsign.NewSigner(testKeys().ec, "ES256", jwtsign.Header{KeyID: "k"})
			return o.Assertion("c", "c", []string{"https://t/token"}, testNow, time.Minute, nil)
		},
	} {
		a, err := mint()
		if err != nil {
			t.Fatal(err)
		}
		form := url.Values{"client_assertion_type": {ClientAssertionType}, "client_id": {"c"}, "client_assertion": {a}}
		if _, why := verifyAssertion(form, check); why == "" {
			t.Errorf("%s: accepted", name)
		}
	}
}
