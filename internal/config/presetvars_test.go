package config

import (
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/grants"
)

// TestPresetURLTemplates: tenant, domain and accounts_url fill the preset
// endpoints; defaults apply; explicit keys still win.
func TestPresetURLTemplates(t *testing.T) {
	for _, tc := range []struct{ body, token, authorize, introspect string }{
		{"provider = \"microsoft\"\ntenant = \"contoso.onmicrosoft.com\"",
			"https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token",
			"https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize", ""},
		{"provider = \"okta\"\ndomain = \"example.okta.com\"",
			"https://example.okta.com/oauth2/default/v1/token", "https://example.okta.com/oauth2/default/v1/authorize",
			"https://example.okta.com/oauth2/default/v1/introspect"},
		{"provider = \"auth0\"\ndomain = \"tenant.eu.auth0.com\"", "https://tenant.eu.auth0.com/oauth/token", "https://tenant.eu.auth0.com/authorize", ""},
		{"provider = \"zoho\"", "https://accounts.zoho.com/oauth/v2/token",
			"https://accounts.zoho.com/oauth/v2/auth?access_type=offline&prompt=consent", ""},
		{"provider = \"zoho\"\naccounts_url = \"https://accounts.zoho.eu/\"", "https://accounts.zoho.eu/oauth/v2/token",
			"https://accounts.zoho.eu/oauth/v2/auth?access_type=offline&prompt=consent", ""},
		{"provider = \"google\"", "https://oauth2.googleapis.com/token",
			"https://accounts.google.com/o/oauth2/v2/auth?access_type=offline&prompt=consent", ""},
		{"provider = \"microsoft\"\ntenant = \"common\"\ntoken_url = \"https://proxy.example/token\"", "https://proxy.example/token",
			"https://login.microsoftonline.com/common/oauth2/v2.0/authorize", ""},
	} {
		cr := decodeOne(t, tc.body+"\nclient_id = \"id\"\nclient_secret = \"s\"")
		if cr.TokenURL != tc.token || cr.AuthorizeURL != tc.authorize || cr.IntrospectionURL != tc.introspect {
			t.Errorf("%s:\n token %s\n authorize %s\n introspect %s", tc.body, cr.TokenURL, cr.AuthorizeURL, cr.IntrospectionURL)
		}
	}
}

// TestPresetVarProblems: a missing required var, a value that would not
// make a URL, and a var of another provider are each one problem.
func TestPresetVarProblems(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`provider = "microsoft"`, `credential "c".tenant: is required with provider "microsoft" (or set token_url or issuer)`},
		{"provider = \"microsoft\"\ntenant = \"a/b\"", `credential "c".tenant: must be a tenant ID`},
		{"provider = \"okta\"\ndomain = \"https://example.okta.com\"", `credential "c".domain: must be a host name`},
		{"provider = \"zoho\"\naccounts_url = \"https://accounts.zoho.eu/oauth\"", `credential "c".accounts_url: must be the accounts server's origin`},
		{"provider = \"google\"\ntenant = \"x\"", `credential "c".tenant: is only used with provider "microsoft"`},
		{"provider = \"xero\"\ndomain = \"x.example\"", `credential "c".domain: is only used with provider "auth0" or "okta"`},
	} {
		_, err := Decode([]byte(one(tc.body + "\nclient_id = \"id\"\nclient_secret = \"s\"")))
		ps := joinedProblems(err)
		var hits int
		for _, p := range ps {
			if strings.Contains(p.Error(), tc.want) {
				hits++
			}
		}
		if hits != 1 {
			t.Errorf("%s:\nerr = %v\nwant one problem containing %q", tc.body, err, tc.want)
		}
	}
}

// TestPresetProviderRate: zoho's documented limit becomes a
// [[scheduler.provider]] rate for its accounts host, unless the config has a
// table for that host; other providers get none.
func TestPresetProviderRate(t *testing.T) {
	cfg, err := Decode([]byte(one("provider = \"zoho\"\naccounts_url = \"https://accounts.zoho.eu\"\nclient_id = \"id\"\nclient_secret = \"s\"")))
	if err != nil {
		t.Fatal(err)
	}
	zoho, _ := grants.LookupPreset("zoho")
	if _, rate, burst := cfg.Scheduler.LimitFor(cfg.Credentials[0].ProviderKey()); rate != zoho.ProviderRate || burst != 1 {
		t.Errorf("zoho limit: rate %v burst %d, want %v and 1", rate, burst, zoho.ProviderRate)
	}
	if _, rate, _ := cfg.Scheduler.LimitFor("https://oauth2.googleapis.com:443"); rate != 0 {
		t.Errorf("another host got rate %v", rate)
	}
	own, err := Decode([]byte(one("provider = \"zoho\"\naccounts_url = \"https://accounts.zoho.eu\"\nclient_id = \"id\"\nclient_secret = \"s\"") + `
[scheduler]
[[scheduler.provider]]
host = "accounts.zoho.eu"
rate = 2.5
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, rate, _ := own.Scheduler.LimitFor(own.Credentials[0].ProviderKey()); rate != 2.5 || len(own.Scheduler.Providers) != 1 {
		t.Errorf("configured table: rate %v, %d tables", rate, len(own.Scheduler.Providers))
	}
}

// TestPresetVarsAreKnown: every var a preset declares has a config key.
func TestPresetVarsAreKnown(t *testing.T) {
	for _, n := range grants.PresetNames() {
		p, _ := grants.LookupPreset(n)
		for k := range p.Vars {
			if _, ok := presetVars[k]; !ok {
				t.Errorf("preset %s declares var %q that config does not know", n, k)
			}
			if !strings.Contains(p.TokenURL+p.AuthorizeURL+p.IntrospectionURL, "{"+k+"}") {
				t.Errorf("preset %s declares var %q that no URL uses", n, k)
			}
		}
	}
}

// TestPresetDeviceEndpointsAndKeptFields: presets give `tokend authorize
// --device` its endpoint (with the preset's vars filled) and keep the
// response fields their APIs need; explicit keys win, `extra_fields = []`
// keeps none.
func TestPresetDeviceEndpointsAndKeptFields(t *testing.T) {
	for _, tc := range []struct{ body, device, extra string }{
		{"provider = \"microsoft\"\ntenant = \"contoso\"", "https://login.microsoftonline.com/contoso/oauth2/v2.0/devicecode", ""},
		{"provider = \"google\"", "https://oauth2.googleapis.com/device/code", ""},
		{"provider = \"github\"", "https://github.com/login/device/code", ""},
		{"provider = \"okta\"\ndomain = \"example.okta.com\"", "https://example.okta.com/oauth2/default/v1/device/authorize", ""},
		{"provider = \"auth0\"\ndomain = \"t.auth0.com\"", "https://t.auth0.com/oauth/device/code", ""},
		{"provider = \"salesforce\"", "", "instance_url"},
		{"provider = \"zoho\"", "", "api_domain"},
		{"provider = \"zoho\"\nextra_fields = []", "", ""},
		{"provider = \"salesforce\"\nextra_fields = [\"id\", \"instance_url\"]", "", "id,instance_url"},
		{"provider = \"github\"\ndevice_authorization_url = \"https://ghe.example/login/device/code\"", "https://ghe.example/login/device/code", ""},
	} {
		cr := decodeOne(t, tc.body+"\nclient_id = \"id\"\nclient_secret = \"s\"")
		if cr.DeviceAuthorizationURL != tc.device || strings.Join(cr.ExtraFields, ",") != tc.extra {
			t.Errorf("%s:\n device %q, want %q\n extra_fields %q, want %q", tc.body, cr.DeviceAuthorizationURL, tc.device, cr.ExtraFields, tc.extra)
		}
	}
}
