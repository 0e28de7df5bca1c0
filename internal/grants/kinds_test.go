package grants

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/secret"
)

// TestEveryGrantKindRenews walks the grant table: each kind passes New and
// Renew sends its request through the one request path, with the client
// authentication and scope every grant gets.
func TestEveryGrantKindRenews(t *testing.T) {
	for _, k := range GrantKinds() {
		t.Run(string(k.Name), func(t *testing.T) {
			if k.Request == nil && k.Send == nil {
				t.Fatal("no request builder")
			}
			body := okBody
			if k.Send != nil { // another wire format: the sample's answer
				body = sampleAnswer(k.Name)
			}
			ep := newEndpoint(t, reply{Body: body})
			c := newTestClient(t, ep.URL, func(cfg *Config) {
				cfg.Grant, cfg.Scopes = k.Name, []string{"s1"}
				sampleOptions(t, cfg) // the kind's own keys, when it needs some
			})
			if err := Validate(c.Config()); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if _, err := c.Renew(context.Background(), secret.New("rt-1")); err != nil {
				t.Fatal(err)
			}
			r := ep.only(t)
			form, _ := url.ParseQuery(r.Body)
			scoped := form.Get("scope") == "s1" || k.Send != nil // GitHub's API takes permissions, not scopes
			if !scoped || r.Header.Get("Authorization") == "" {
				t.Errorf("request lacks scope or client authentication: %q %v", r.Body, r.Header)
			}
			if got := form.Has("refresh_token"); got != k.SpendsRefreshToken {
				t.Errorf("refresh_token sent = %v, SpendsRefreshToken = %v", got, k.SpendsRefreshToken)
			}
			if k.SpendsRefreshToken {
				_, err := c.Renew(context.Background(), secret.Secret{})
				if !IsPermanent(err) || !strings.Contains(err.Error(), "no refresh token") {
					t.Errorf("renew without a refresh token: %v", err)
				}
			}
		})
	}
	if names := GrantNames(); !slices.Contains(names, string(DefaultGrant)) {
		t.Errorf("default grant %q is not configurable (%v)", DefaultGrant, names)
	}
}

// TestEveryAuthMethodApplies walks the auth-method table: each method
// passes New, sends what it declares (BodyParams, Headers) and nothing it
// does not, and a configured param or header it owns is refused.
func TestEveryAuthMethodApplies(t *testing.T) {
	for _, m := range AuthMethods() {
		t.Run(string(m.Name), func(t *testing.T) {
			ep := newEndpoint(t, reply{Body: okBody})
			fixture := authFixture(t, m.Name) // its key files, read, and a secret it accepts
			c := newTestClient(t, ep.URL, func(cfg *Config) { cfg.AuthStyle = m.Name; fixture(cfg) })
			if _, err := c.ClientCredentials(context.Background()); err != nil {
				t.Fatal(err)
			}
			r := ep.only(t)
			form, _ := url.ParseQuery(r.Body)
			for _, p := range []string{"client_id", "client_secret", "client_assertion_type", "client_assertion"} {
				if form.Has(p) != slices.Contains(m.BodyParams, p) {
					t.Errorf("body param %s sent = %v, declared %v", p, form.Has(p), m.BodyParams)
				}
			}
			if (r.Header.Get("Authorization") != "") != slices.Contains(m.Headers, "Authorization") {
				t.Errorf("Authorization sent = %q, declared %v", r.Header.Get("Authorization"), m.Headers)
			}
			for _, p := range m.BodyParams {
				cfg := c.Config()
				cfg.Params = map[string]string{p: "x"}
				if err := Validate(cfg); err == nil {
					t.Errorf("param %q accepted although %s sends it", p, m.Name)
				}
			}
			for _, h := range m.Headers {
				if h != http.CanonicalHeaderKey(h) {
					t.Errorf("header %q in the table is not in canonical form", h)
				}
				cfg := c.Config()
				cfg.Headers = map[string]string{strings.ToLower(h): "x"}
				if err := Validate(cfg); err == nil || !strings.Contains(err.Error(), "already sent with auth style") {
					t.Errorf("header %q: err = %v", h, err)
				}
			}
		})
	}
}

// TestUnknownKindNamesTheKnownOnes: an unknown grant or auth style is one
// problem that lists the table.
func TestUnknownKindNamesTheKnownOnes(t *testing.T) {
	cfg := validConfig()
	cfg.Grant, cfg.AuthStyle = "password", "jwt"
	err := Validate(cfg)
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	var grantNames []string // the table, in order
	for _, k := range GrantKinds() {
		grantNames = append(grantNames, string(k.Name))
	}
	for _, want := range []string{
		`unknown grant "password" (supported: ` + strings.Join(grantNames, ", ") + `)`,
		`unknown auth style "jwt" (supported: basic, post, none, basic_raw, private_key_jwt, client_secret_jwt, client_assertion, tls_client_auth)`,
	} {
		if strings.Count(msg, want) != 1 {
			t.Errorf("error %q should contain %q once", msg, want)
		}
	}
	if strings.Count(msg, "unknown") != 2 {
		t.Errorf("more than one problem per kind: %q", msg)
	}
	if _, err := LookupGrant("password"); err == nil || !strings.Contains(err.Error(), "refresh_token") {
		t.Errorf("LookupGrant: %v", err)
	}
	if _, err := LookupAuthMethod("jwt"); err == nil || !strings.Contains(err.Error(), "basic_raw") {
		t.Errorf("LookupAuthMethod: %v", err)
	}
	if Grant("password").SpendsRefreshToken() || !GrantRefreshToken.SpendsRefreshToken() || GrantClientCredentials.SpendsRefreshToken() {
		t.Error("SpendsRefreshToken disagrees with the table")
	}
}
