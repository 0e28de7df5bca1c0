package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/grants"
)

// one wraps a credential body into a minimal config with a sink.
func one(body string) string {
	return "[state]\ndir = \"/tmp/x\"\n[[credential]]\nname = \"c\"\n" + body +
		"\n  [[credential.sink]]\n  type = \"file\"\n  path = \"/run/tokend/c.token\"\n"
}

func decodeOne(t *testing.T, body string) *Credential {
	t.Helper()
	cfg, err := Decode([]byte(one(body)))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return &cfg.Credentials[0]
}

func TestPresetBasic(t *testing.T) {
	cr := decodeOne(t, `provider = "basic"
client_id = "basic-app"
redirect_uri = "http://127.0.0.1:8976/callback"`)
	if cr.TokenURL != "https://api.basic.tech/auth/token" || cr.AuthorizeURL != "https://api.basic.tech/auth/authorize" ||
		cr.Body != "json" || cr.AuthStyle != "none" || cr.Grant != "refresh_token" || !cr.UsesPKCE() ||
		strings.Join(cr.Scopes, " ") != "profile" || cr.DefaultLifetime.Duration != time.Hour {
		t.Errorf("basic preset not applied: %+v", cr)
	}
	gc := cr.GrantsConfig()
	if gc.Body != grants.BodyJSON || gc.OmitGrantType || gc.IntrospectionURL != "" {
		t.Errorf("grants config %+v", gc)
	}
}

func TestPresetBasiq(t *testing.T) {
	t.Setenv("BASIQ_KEY_TEST", "YWJjOmRlZg==")
	cfg, err := Decode([]byte(one(`provider = "basiq"
api_key_env = "BASIQ_KEY_TEST"`)))
	if err != nil {
		t.Fatal(err)
	}
	cr := &cfg.Credentials[0]
	if cr.TokenURL != "https://au-api.basiq.io/token" || cr.Grant != "client_credentials" || cr.AuthStyle != "basic_raw" ||
		cr.Headers["basiq-version"] != "2.0" || strings.Join(cr.Scopes, " ") != "SERVER_ACCESS" || cr.UsesPKCE() {
		t.Errorf("basiq preset not applied: %+v", cr)
	}
	if err := cfg.ResolveSecrets(); err != nil {
		t.Fatal(err)
	}
	gc := cr.GrantsConfig()
	if gc.ClientSecret.Reveal() != "YWJjOmRlZg==" || !gc.OmitGrantType || gc.AuthStyle != grants.AuthBasicRaw {
		t.Errorf("grants config: omit %v style %v secret set %v", gc.OmitGrantType, gc.AuthStyle, !gc.ClientSecret.IsZero())
	}

	// Overrides: host, version header (any case), scope, grant_type.
	cr = decodeOne(t, `provider = "basiq"
api_url = "https://sandbox.basiq.example/"
api_key_file = "/etc/tokend/basiq.key"
headers = { "Basiq-Version" = "3.0", "X-Extra" = "1" }
scopes = ["CLIENT_ACCESS"]
send_grant_type = true`)
	if cr.TokenURL != "https://sandbox.basiq.example/token" || len(cr.Headers) != 2 || cr.Headers["Basiq-Version"] != "3.0" ||
		cr.Scopes[0] != "CLIENT_ACCESS" || cr.GrantsConfig().OmitGrantType {
		t.Errorf("overrides not applied: %+v", cr)
	}
}

func TestPresetApicbase(t *testing.T) {
	cr := decodeOne(t, `provider = "apicbase"
client_id = "id"
client_secret_file = "/etc/tokend/apicbase.secret"
scopes = ["accounts", "library"]
auth_style = "basic"
token_url = "https://proxy.example/oauth/token/"`)
	if cr.TokenURL != "https://proxy.example/oauth/token/" || cr.AuthorizeURL != "https://app.apicbase.com/oauth/authorize/" ||
		cr.IntrospectionURL != "https://api.apicbase.com/oauth/introspect/" || cr.AuthStyle != "basic" || cr.Body != "form" ||
		cr.UsesPKCE() || cr.DefaultLifetime.Duration != 7*24*time.Hour {
		t.Errorf("apicbase preset/overrides: %+v", cr)
	}
	if cr := decodeOne(t, `provider = "basic"
client_id = "x"
scopes = []`); len(cr.Scopes) != 0 {
		t.Errorf("scopes = [] replaced by the preset's %v", cr.Scopes)
	}
	if cr.GrantsConfig().IntrospectionURL != "https://api.apicbase.com/oauth/introspect/" {
		t.Error("introspection_url not passed to grants")
	}
	// pkce can be switched on; a generic credential has it on by default.
	if cr := decodeOne(t, `provider = "apicbase"
client_id = "id"
client_secret = "s"
pkce = true`); !cr.UsesPKCE() {
		t.Error("pkce = true ignored")
	}
	if cr := decodeOne(t, `token_url = "https://idp.example/token"
client_id = "id"
client_secret = "s"`); !cr.UsesPKCE() || cr.Provider != "generic" || cr.AuthorizeURL != "" {
		t.Errorf("generic defaults: %+v", cr)
	}
}

func TestIssuerDefersEndpoints(t *testing.T) {
	cr := decodeOne(t, `provider = "apicbase"
issuer = "https://idp.example/realm"
client_id = "id"
client_secret = "s"`)
	if cr.TokenURL != "" || cr.AuthorizeURL != "" || cr.IntrospectionURL != "" || cr.Body != "form" {
		t.Errorf("with issuer, preset endpoints must wait for discovery: %+v", cr)
	}
}

func TestProviderValidation(t *testing.T) {
	tests := []struct{ body, want string }{
		{`provider = "gitlab"
token_url = "https://x.example/t"
client_id = "i"
client_secret = "s"`, `unknown provider "gitlab" (supported: ` + strings.Join(grants.PresetNames(), ", ") + `)`},
		{`provider = "basiq"`, "an API key is required with auth_style \"basic_raw\""},
		{`provider = "basiq"
api_key = "k"
api_key_env = "K"`, "set only one of"},
		{`provider = "basiq"
client_secret = "k"
api_key_env = "K"`, "set only one of"},
		{`provider = "apicbase"
client_id = "i"
api_key = "k"`, `api_key: is only used with auth_style "basic_raw"`},
		{`provider = "apicbase"
client_id = "i"
client_secret = "s"
api_url = "https://x.example"`, "api_url: is only used by providers"},
		{`provider = "apicbase"
client_id = "i"
client_secret = "s"
redirect_uri = "http://app.example/cb"`, "redirect_uri: http:// is only allowed to 127.0.0.1"},
		{`provider = "apicbase"
client_id = "i"
client_secret = "s"
redirect_uri = "myapp:/cb"`, "redirect_uri: must be an absolute URL"},
		{`provider = "apicbase"
client_id = "i"
client_secret = "s"
authorize_url = "http://app.example/authorize"`, "authorize_url uses http://"},
		{`issuer = "https://idp.example/?x=1"
client_id = "i"
client_secret = "s"`, "issuer: must not have a query"},
		{`client_id = "i"
client_secret = "s"`, "token_url: is required (or issuer, to discover it)"},
		{`provider = "apicbase"
client_id = "i"
client_secret = "s"
send_grant_type = false`, "send_grant_type: false is only possible"},
		{`issuer = "https://idp.example"
client_id = "i"
client_secret = "s"
auth_style = "weird"`, "unknown auth style"},
	}
	for _, tc := range tests {
		_, err := Decode([]byte(one(tc.body)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config\n%s\nerr = %v\nwant it to contain %q", tc.body, err, tc.want)
		}
	}
	// Loopback and https redirect URIs are fine, port 0 included.
	for _, ru := range []string{"http://127.0.0.1:0/cb", "http://localhost:8976/", "http://[::1]:9/cb", "https://app.example/cb"} {
		if _, err := Decode([]byte(one(`provider = "basic"
client_id = "x"
redirect_uri = "` + ru + `"`))); err != nil {
			t.Errorf("redirect_uri %s refused: %v", ru, err)
		}
	}
}

func TestAPIKeyResolutionAndWarning(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "basiq.key")
	if err := os.WriteFile(keyFile, []byte("a2V5Cg==\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Decode([]byte(one(`provider = "basiq"
api_key_file = "` + keyFile + `"`)))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.ResolveSecrets(); err != nil || cfg.Credentials[0].Secret.Reveal() != "a2V5Cg==" {
		t.Fatalf("api_key_file: %v", err)
	}
	cfg, _ = Decode([]byte(one(`provider = "basiq"
api_key_env = "TOKEND_TEST_UNSET_KEY"`)))
	err = cfg.ResolveSecrets()
	if err == nil || !strings.Contains(err.Error(), "API key: environment variable TOKEND_TEST_UNSET_KEY is not set") {
		t.Errorf("missing env: %v", err)
	}
	path := filepath.Join(dir, "tokend.toml")
	if err := os.WriteFile(path, []byte(one(`provider = "basiq"
api_key = "inline-key"`)), 0o644); err != nil {
		t.Fatal(err)
	}
	loaded, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded.Warnings) != 1 || !strings.Contains(loaded.Warnings[0], "api_key is inline") ||
		strings.Contains(loaded.Warnings[0], "inline-key") {
		t.Errorf("warnings = %q", loaded.Warnings)
	}
}
