package grants

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokend/tokend/internal/fakeprovider"
	"github.com/tokend/tokend/internal/jwtsign"
	"github.com/tokend/tokend/internal/secret"
)

// googleSetup is a strict Google token endpoint and a service-account key
// file whose token_uri points at it.
func googleSetup(t *testing.T, now func() time.Time) (*fakeprovider.GoogleSA, string, string) {
	t.Helper()
	key := testRSAKey()
	g := fakeprovider.NewGoogleSA("robot@tokend-test.iam.gserviceaccount.com", "0123456789abcdef0123456789abcdef01234567", key.Public(), now)
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	g.TokenURI = srv.URL + "/token"
	sa := serviceAccountJSON(t, key, "0123456789abcdef0123456789abcdef01234567", g.TokenURI)
	path := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(path, []byte(sa), 0o600); err != nil {
		t.Fatal(err)
	}
	return g, path, sa
}

// TestJWTBearerServiceAccountAgainstStrictGoogle: a service-account key
// file taken as is yields a token from Google's endpoint, which checks aud
// == token_uri, kid == private_key_id, the signature, the scope claim and
// exp - iat <= 1 h; the scope is in the assertion, not the body, and the
// token URL defaults to the key's token_uri.
func TestJWTBearerServiceAccountAgainstStrictGoogle(t *testing.T) {
	g, path, _ := googleSetup(t, nil)
	o := &JWTBearerOptions{ServiceAccountFile: path}
	resolve(t, o)
	c, err := New(Config{Name: "gcp", Grant: GrantJWTBearer, AuthStyle: AuthNone, GrantOptions: o,
		Scopes: []string{"https://www.googleapis.com/auth/cloud-platform", "openid"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Config().TokenURL != g.TokenURI {
		t.Errorf("token URL %q, want the key's token_uri %q", c.Config().TokenURL, g.TokenURI)
	}
	var tokens []string
	for range 2 {
		tok, err := c.Renew(context.Background(), secret.Secret{})
		if err != nil {
			t.Fatalf("renew: %v (Google refused: %v)", err, g.Rejected())
		}
		if tok.ExpirySource != "expires_in" || tok.ExpiresAt.Sub(tok.IssuedAt) != 3599*time.Second {
			t.Errorf("expiry %v from %s", tok.ExpiresAt.Sub(tok.IssuedAt), tok.ExpirySource)
		}
		tokens = append(tokens, tok.AccessToken.Reveal())
	}
	if tokens[0] == tokens[1] || len(g.Issued()) != 2 {
		t.Errorf("two mints, tokens %d", len(g.Issued()))
	}
	if got := g.Scopes(); got[0] != "https://www.googleapis.com/auth/cloud-platform openid" {
		t.Errorf("scope claim %q", got[0])
	}
	if got := g.Subjects(); got[0] != "" {
		t.Errorf("sub %q sent without assertion_subject", got[0])
	}
}

// TestJWTBearerAssertionShape checks the generic (RFC 7523) assertion on
// the wire: signature with the configured key, kid = the JWK thumbprint,
// iss/sub/aud defaults, exp - iat = JWTBearerLifetime, a fresh jti, and
// scopes in the body unless scopes_in says otherwise.
func TestJWTBearerAssertionShape(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	path, _ := writeKeyPEM(t, ec)
	for _, in := range []string{ScopesInBody, ScopesInAssertion, ScopesInBoth} {
		ep := newEndpoint(t, reply{Body: okBody})
		o := &JWTBearerOptions{KeyOptions: KeyOptions{PrivateKeyFile: path}, AssertionIssuer: "svc-issuer", ScopesIn: in}
		resolve(t, o)
		c := newTestClient(t, ep.URL, func(cfg *Config) {
			cfg.Grant, cfg.GrantOptions, cfg.AuthStyle, cfg.ClientID, cfg.Scopes = GrantJWTBearer, o, AuthNone, "", []string{"a", "b"}
		})
		var jtis []string
		for range 2 {
			if _, err := c.Renew(context.Background(), secret.Secret{}); err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range ep.reqs {
			form, _ := url.ParseQuery(r.Body)
			if form.Get("grant_type") != JWTBearerGrantType || r.Header.Get("Authorization") != "" {
				t.Errorf("grant_type %q, Authorization %q", form.Get("grant_type"), r.Header.Get("Authorization"))
			}
			hdr, cl := verifyJWT(t, form.Get("assertion"), ec.Public(), jose.ES256)
			tp, _ := jwtsign.Thumbprint(ec)
			if hdr.KeyID != tp || cl["iss"] != "svc-issuer" || cl["sub"] != "svc-issuer" || cl["aud"] != ep.URL+"/oauth/token" {
				t.Errorf("kid %q, claims %v", hdr.KeyID, cl)
			}
			if iat, exp := cl["iat"].(float64), cl["exp"].(float64); iat != float64(testNow.Unix()) || exp-iat != JWTBearerLifetime.Seconds() {
				t.Errorf("iat %v exp %v", iat, exp)
			}
			jtis = append(jtis, cl["jti"].(string))
			if body, claim := form.Get("scope") == "a b", cl["scope"] == "a b"; body != (in != ScopesInAssertion) || claim != (in != ScopesInBody) {
				t.Errorf("scopes_in %s: in body %v, in claim %v", in, body, claim)
			}
		}
		if jtis[0] == jtis[1] || jtis[0] == "" {
			t.Errorf("jti not fresh: %v", jtis)
		}
	}
}

// TestJWTBearerConfigProblems: what validation refuses, every problem at once.
func TestJWTBearerConfigProblems(t *testing.T) {
	var problems []string
	bad := func(field, format string, args ...any) { problems = append(problems, field) }
	o := &JWTBearerOptions{ServiceAccountFile: "/x.json", KeyOptions: KeyOptions{PrivateKeyFile: "/k.pem", SigningAlg: "HS256"}, ScopesIn: "header"}
	o.Validate(bad)
	if strings.Join(problems, ",") != "service_account_file,signing_alg,scopes_in" {
		t.Errorf("problems %v", problems)
	}
	problems = nil
	(&JWTBearerOptions{ScopesIn: ScopesInBody}).Validate(bad)
	if strings.Join(problems, ",") != "private_key_file" {
		t.Errorf("no key: %v", problems)
	}
	err := Validate(Config{Grant: GrantJWTBearer, TokenURL: "https://idp.example/token", AuthStyle: AuthNone,
		GrantOptions: &JWTBearerOptions{KeyOptions: KeyOptions{PrivateKeyFile: "/k.pem"}}})
	if err == nil || !strings.Contains(err.Error(), "needs assertion_issuer") {
		t.Errorf("no issuer: %v", err)
	}
	// Without token_url, a service account validates against Google's endpoint.
	gc := Config{Grant: GrantJWTBearer, AuthStyle: AuthNone, GrantOptions: &JWTBearerOptions{ServiceAccountFile: "/sa.json"}, Scopes: []string{"s"}}
	if err := Validate(gc); err != nil {
		t.Errorf("service account without token_url: %v", err)
	}
	// Google refuses an assertion without scopes: so does validation.
	gc.Scopes = nil
	if err := Validate(gc); err == nil || !strings.Contains(err.Error(), "needs scopes") {
		t.Errorf("service account without scopes: %v", err)
	}
}

// TestServiceAccountFileErrorsNameNoKey: a broken key file is named, its
// content never.
func TestServiceAccountFileErrorsNameNoKey(t *testing.T) {
	_, _, sa := googleSetup(t, nil)
	dir := t.TempDir()
	for name, content := range map[string]string{
		"notjson":  "{" + sa,
		"user":     strings.Replace(sa, `"service_account"`, `"authorized_user"`, 1),
		"nokey":    strings.Replace(sa, `"private_key"`, `"private_kez"`, 1),
		"badpem":   strings.Replace(sa, "BEGIN PRIVATE KEY", "BEGIN PRIVATE KEZ", 1),
		"httpaud":  strings.Replace(sa, "http://127.0.0.1", "http://example.com", 1),
		"truncpem": sa[:strings.Index(sa, "-----END")] + `"}`,
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		err := (&JWTBearerOptions{ServiceAccountFile: p}).ResolveSecrets(readTestSecret)
		if err == nil || !strings.Contains(err.Error(), p) || strings.Contains(err.Error(), "MII") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// TestServiceAccountDelegation: assertion_subject becomes the
// sub claim (Google domain-wide delegation); Google's fake still accepts.
func TestServiceAccountDelegation(t *testing.T) {
	g, path, _ := googleSetup(t, nil)
	o := &JWTBearerOptions{ServiceAccountFile: path, AssertionSubject: "admin@example.com"}
	resolve(t, o)
	c, err := New(Config{Name: "gcp", Grant: GrantJWTBearer, AuthStyle: AuthNone, GrantOptions: o, Scopes: []string{"s"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Renew(context.Background(), secret.Secret{}); err != nil {
		t.Fatalf("%v (%v)", err, g.Rejected())
	}
	if g.Subjects()[0] != "admin@example.com" {
		t.Errorf("sub %q", g.Subjects()[0])
	}
	var problems []string
	(&JWTBearerOptions{ServiceAccountFile: path, KeyOptions: KeyOptions{SigningAlg: "PS256"}, ScopesIn: ScopesInAssertion}).Validate(
		func(field, format string, args ...any) { problems = append(problems, field) })
	if strings.Join(problems, ",") != "signing_alg" {
		t.Errorf("PS256 with a service account: %v", problems)
	}
}
