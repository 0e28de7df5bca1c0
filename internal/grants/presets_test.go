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
	if got := strings.Join(PresetNames(), ","); got != "apicbase,basic,basiq,generic,github-app,google-service-account" {
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
