package grants

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/secret"
)

// TestPresetsMatchProviderDocs pins every preset fact to the provider docs
// in shared/providers (quoted in the comments).
func TestPresetsMatchProviderDocs(t *testing.T) {
	basic, _ := LookupPreset("basic")
	// "https://api.basic.tech/auth/authorize?response_type=code..." and
	// "Token URL template: https://api.basic.tech/auth/token".
	if basic.AuthorizeURL != "https://api.basic.tech/auth/authorize" || basic.TokenURL != "https://api.basic.tech/auth/token" {
		t.Errorf("basic endpoints: %+v", basic)
	}
	// "post request to /auth/token with the authorization code in the body.
	// The response will be a JSON object"; the docs show a JSON body; PKCE
	// "optional, recommended"; "Access tokens ... (with Basic, this is 1 hour)".
	if basic.Body != BodyJSON || !basic.PKCE || basic.Lifetime != time.Hour || basic.Grant != GrantRefreshToken {
		t.Errorf("basic wire: %+v", basic)
	}
	if strings.Join(basic.Scopes, " ") != "profile" {
		t.Errorf("basic default scope = %v, want profile", basic.Scopes)
	}

	basiq, _ := LookupPreset("basiq")
	// "POST /token", "Authorization: Basic YOUR_API_KEY", "basiq-version: 2.0",
	// "scope=SERVER_ACCESS", no grant_type in the documented body.
	if basiq.APIURL != "https://au-api.basiq.io" || basiq.TokenPath != "/token" || basiq.AuthStyle != AuthBasicRaw ||
		basiq.Body != BodyForm || basiq.Headers["basiq-version"] != "2.0" || !basiq.OmitGrantType ||
		basiq.Grant != GrantClientCredentials || strings.Join(basiq.Scopes, " ") != "SERVER_ACCESS" {
		t.Errorf("basiq: %+v", basiq)
	}

	apic, _ := LookupPreset("apicbase")
	if apic.AuthorizeURL != "https://app.apicbase.com/oauth/authorize/" || apic.TokenURL != "https://api.apicbase.com/oauth/token/" ||
		apic.IntrospectionURL != "https://api.apicbase.com/oauth/introspect/" {
		t.Errorf("apicbase endpoints: %+v", apic)
	}
	// "This request must be encoded as x-www-form-urlencoded"; PKCE is not
	// mentioned; "Access tokens expire one week after they're generated".
	if apic.Body != BodyForm || apic.PKCE || apic.Lifetime != 7*24*time.Hour || apic.AuthStyle != AuthPost {
		t.Errorf("apicbase wire: %+v", apic)
	}

	// Google: "grant_type ... urn:ietf:params:oauth:grant-type:jwt-bearer";
	// "The access token ... expires in 1 hour (3,600 seconds)".
	gsa, _ := LookupPreset("google-service-account")
	if gsa.Grant != GrantJWTBearer || gsa.AuthStyle != AuthNone || gsa.TokenURL != "" || gsa.Lifetime != time.Hour ||
		strings.Join(gsa.Scopes, " ") != "https://www.googleapis.com/auth/cloud-platform" {
		t.Errorf("google-service-account: %+v", gsa)
	}
	// GitHub: "Installation access tokens expire one hour from the time you create them".
	gha, _ := LookupPreset("github-app")
	if gha.Grant != GrantGitHubApp || gha.AuthStyle != AuthNone || gha.Lifetime != time.Hour || gha.Scopes != nil {
		t.Errorf("github-app: %+v", gha)
	}

	if _, ok := LookupPreset("nope"); ok {
		t.Error("unknown preset found")
	}
	if got := strings.Join(PresetNames(), ","); got != "apicbase,auth0,basic,basiq,generic,github,github-app,google,google-service-account,keycloak,microsoft,okta,salesforce,xero,zoho" {
		t.Errorf("PresetNames = %s", got)
	}
	// LookupPreset hands out copies.
	basiq.Headers["basiq-version"] = "9"
	if again, _ := LookupPreset("basiq"); again.Headers["basiq-version"] != "2.0" {
		t.Error("mutating a looked-up preset changed the table")
	}
}

func TestOmitGrantTypeSendsOnlyTheDocumentedBody(t *testing.T) {
	e := newEndpoint(t, reply{Body: okBody})
	c := newTestClient(t, e.URL, func(cfg *Config) {
		cfg.AuthStyle, cfg.ClientID = AuthBasicRaw, ""
		cfg.ClientSecret = secret.New("MDAwOmFwaWtleQ==")
		cfg.Scopes = []string{"SERVER_ACCESS"}
		cfg.Headers = map[string]string{"basiq-version": "2.0"}
		cfg.OmitGrantType = true
	})
	if _, err := c.Renew(context.Background(), secret.Secret{}); err != nil {
		t.Fatal(err)
	}
	r := e.only(t)
	if r.Body != "scope=SERVER_ACCESS" {
		t.Errorf("body = %q, want exactly scope=SERVER_ACCESS", r.Body)
	}
	if r.Header.Get("Authorization") != "Basic MDAwOmFwaWtleQ==" || r.Header.Get("Basiq-Version") != "2.0" {
		t.Errorf("headers = %v", r.Header)
	}
	// Without the flag, grant_type is there (RFC 6749 §4.4.2).
	e2 := newEndpoint(t, reply{Body: okBody})
	c2 := newTestClient(t, e2.URL, nil)
	if _, err := c2.ClientCredentials(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v, _ := url.ParseQuery(e2.only(t).Body); v.Get("grant_type") != "client_credentials" {
		t.Errorf("grant_type missing without OmitGrantType: %v", v)
	}
}

func TestCheckEndpointURL(t *testing.T) {
	for _, tc := range []struct {
		raw      string
		insecure bool
		ok       bool
	}{
		{"https://idp.example/oauth/authorize", false, true},
		{"http://127.0.0.1:9/authorize", false, true},
		{"http://idp.example/authorize", false, false},
		{"http://idp.example/authorize", true, true},
		{"ftp://idp.example/", false, false},
		{"/relative", false, false},
		{"https://user:pw@idp.example/", false, false},
	} {
		err := CheckEndpointURL("authorize_url", tc.raw, tc.insecure)
		if (err == nil) != tc.ok {
			t.Errorf("%s (insecure %v): err = %v", tc.raw, tc.insecure, err)
		}
		if err != nil && !strings.Contains(err.Error(), "authorize_url") {
			t.Errorf("error does not name the key: %v", err)
		}
	}
}

// TestIdentityProviderPresets pins the identity-provider presets to their
// providers' public docs (paraphrased in presets.go): endpoints, client
// authentication, documented access-token lifetimes, templated hosts.
func TestIdentityProviderPresets(t *testing.T) {
	get := func(n string) Preset { p, _ := LookupPreset(n); return p }
	for _, tc := range []struct {
		name, token, authorize string
		auth                   AuthStyle
		life                   time.Duration
		vars                   string
	}{
		{"google", "https://oauth2.googleapis.com/token", "https://accounts.google.com/o/oauth2/v2/auth?access_type=offline&prompt=consent", AuthPost, time.Hour, ""},
		{"microsoft", "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token", "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize", AuthPost, time.Hour, "tenant"},
		{"github", "https://github.com/login/oauth/access_token", "https://github.com/login/oauth/authorize", AuthPost, 8 * time.Hour, ""},
		{"salesforce", "https://login.salesforce.com/services/oauth2/token", "https://login.salesforce.com/services/oauth2/authorize", AuthPost, time.Hour, ""},
		{"xero", "https://identity.xero.com/connect/token", "https://login.xero.com/identity/connect/authorize", AuthBasic, 30 * time.Minute, ""},
		{"okta", "https://{domain}/oauth2/default/v1/token", "https://{domain}/oauth2/default/v1/authorize", AuthBasic, time.Hour, "domain"},
		{"auth0", "https://{domain}/oauth/token", "https://{domain}/authorize", AuthPost, 24 * time.Hour, "domain"},
		{"keycloak", "", "", AuthBasic, 5 * time.Minute, ""},
		{"zoho", "{accounts_url}/oauth/v2/token", "{accounts_url}/oauth/v2/auth?access_type=offline&prompt=consent", AuthPost, time.Hour, "accounts_url"},
	} {
		p := get(tc.name)
		var vars []string
		for k := range p.Vars {
			vars = append(vars, k)
		}
		if p.TokenURL != tc.token || p.AuthorizeURL != tc.authorize || p.AuthStyle != tc.auth || p.Lifetime != tc.life ||
			strings.Join(vars, ",") != tc.vars || p.Grant != GrantRefreshToken {
			t.Errorf("%s: %+v", tc.name, p)
		}
	}
	if get("salesforce").IntrospectionURL == "" || get("zoho").ProviderRate <= 0 || get("zoho").ProviderRate > 1.0/6 {
		t.Error("salesforce introspection or zoho's rate (at most 10 per refresh token per 10 minutes, with margin) missing")
	}
	z := get("zoho")
	if u, ok := z.ExpandURL(z.TokenURL, func(string) string { return "" }); !ok || u != "https://accounts.zoho.com/oauth/v2/token" {
		t.Errorf("zoho default accounts_url: %q %v", u, ok)
	}
	m := get("microsoft")
	if _, ok := m.ExpandURL(m.TokenURL, func(string) string { return "" }); ok {
		t.Error("microsoft without a tenant expanded")
	}
}
