package grants

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"time"
)

// Preset is what tokend knows about one provider's OAuth endpoints and wire
// format, taken from the provider's own documentation. A credential with
// `provider = "<name>"` starts from its preset; every field can be overridden
// with the generic config keys (token_url, auth_style, body, headers, ...).
// Empty fields leave the generic defaults in place.
type Preset struct {
	Name  string
	Grant Grant // "" = the generic default (refresh_token)

	TokenURL         string
	AuthorizeURL     string
	IntrospectionURL string
	// DeviceAuthorizationURL is the RFC 8628 endpoint of `tokend authorize
	// --device` (device_authorization_url).
	DeviceAuthorizationURL string
	// ExtraFields are the token-response fields kept for sinks when the
	// credential names none (extra_fields): Salesforce's instance_url, Zoho's
	// api_domain.
	ExtraFields []string
	// APIURL is the default API host for providers whose token endpoint is
	// TokenPath under it (Basiq); a credential's api_url replaces it.
	APIURL    string
	TokenPath string

	AuthStyle AuthStyle
	Body      BodyFormat
	// Headers are sent with every token request (Basiq's basiq-version).
	Headers map[string]string
	// Scopes are used when the credential sets none.
	Scopes []string
	// PKCE says whether `tokend authorize` sends an S256 code challenge
	// (RFC 7636) unless the credential says otherwise.
	PKCE bool
	// OmitGrantType drops grant_type from client_credentials requests
	// (Basiq documents a body of only `scope=...`).
	OmitGrantType bool
	// Lifetime is the documented access-token lifetime: informational, and
	// the default_lifetime when the credential sets none.
	Lifetime time.Duration
	// Vars are the credential keys the preset's URLs are built from
	// (tenant, domain, accounts_url): each "{key}" in TokenURL, AuthorizeURL
	// and IntrospectionURL is replaced by the credential's value of key, or
	// by Vars[key] when it sets none; "" means the credential must set it
	// (unless it sets token_url or issuer itself).
	Vars map[string]string
	// ProviderRate bounds the refreshes started per second toward the
	// preset's token endpoint host, for providers that document a limit on
	// token requests: the default of a [[scheduler.provider]] table for the
	// host, which a table the config has for it replaces. 0: none.
	ProviderRate float64
	// Notes is one line on what the preset assumes, for docs and errors.
	Notes string
}

// presets is the table, keyed by name. LookupPreset hands out copies.
var presets = map[string]Preset{
	"generic": {
		Name:  "generic",
		PKCE:  true, // RFC 9700 §2.1.1; servers ignore unknown parameters (RFC 6749 §3.1)
		Notes: "no assumptions: configure every endpoint and wire detail",
	},
	// https://docs.basic.tech (Basic Auth; REST quickstart).
	"basic": {
		Name:         "basic",
		Grant:        GrantRefreshToken,
		AuthorizeURL: "https://api.basic.tech/auth/authorize",
		TokenURL:     "https://api.basic.tech/auth/token",
		AuthStyle:    AuthNone, // the SDKs run in browsers: a public client with PKCE
		Body:         BodyJSON,
		Scopes:       []string{"profile"},
		PKCE:         true,
		Lifetime:     time.Hour,
		Notes:        "JSON token requests; 1-hour JWT access tokens; the refresh token may rotate",
	},
	// Basiq "Authentication": POST /token with the API key as HTTP Basic.
	"basiq": {
		Name:          "basiq",
		Grant:         GrantClientCredentials,
		APIURL:        "https://au-api.basiq.io",
		TokenPath:     "/token",
		AuthStyle:     AuthBasicRaw,
		Body:          BodyForm,
		Headers:       map[string]string{"basiq-version": "2.0"},
		Scopes:        []string{"SERVER_ACCESS"},
		OmitGrantType: true,
		Lifetime:      time.Hour,
		Notes:         "API key sent as `Authorization: Basic <key>`; no refresh token: tokend re-authenticates before expiry",
	},
	// Apicbase "Authentication" and "Authentication - To The Point".
	"apicbase": {
		Name:             "apicbase",
		Grant:            GrantRefreshToken,
		AuthorizeURL:     "https://app.apicbase.com/oauth/authorize/",
		TokenURL:         "https://api.apicbase.com/oauth/token/",
		IntrospectionURL: "https://api.apicbase.com/oauth/introspect/",
		AuthStyle:        AuthPost,
		Body:             BodyForm,
		Lifetime:         7 * 24 * time.Hour,
		Notes:            "authorization codes expire after one minute; refresh tokens are single-use and never expire",
	},
	// Google "Using OAuth 2.0 for Web Server Applications": offline access
	// and a refresh token only with access_type=offline; prompt=consent
	// gets a refresh token again on re-authorization. Access tokens last one
	// hour; refresh tokens are not rotated.
	"google": {
		Name:                   "google",
		Grant:                  GrantRefreshToken,
		AuthorizeURL:           "https://accounts.google.com/o/oauth2/v2/auth?access_type=offline&prompt=consent",
		TokenURL:               "https://oauth2.googleapis.com/token",
		AuthStyle:              AuthPost,
		PKCE:                   true,
		Lifetime:               time.Hour,
		DeviceAuthorizationURL: "https://oauth2.googleapis.com/device/code",
		Notes:                  "user OAuth; refresh tokens do not rotate; a refresh token unused for six months, or of a Testing-mode app after seven days, is revoked",
	},
	// Microsoft identity platform v2.0 endpoints, per tenant (a tenant ID,
	// a verified domain, or common/organizations/consumers for user
	// sign-in). Client secret in the body, or a certificate credential:
	// auth_style = "private_key_jwt" with certificate_file (x5t#S256).
	"microsoft": {
		Name:                   "microsoft",
		Grant:                  GrantRefreshToken,
		AuthorizeURL:           "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize",
		TokenURL:               "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
		AuthStyle:              AuthPost,
		PKCE:                   true,
		Lifetime:               time.Hour,
		Vars:                   map[string]string{"tenant": ""},
		DeviceAuthorizationURL: "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/devicecode",
		Notes:                  "Entra ID v2; include offline_access in scopes for a refresh token; refresh tokens rotate; access tokens last 60-90 minutes",
	},
	// GitHub "Generating a user access token for a GitHub App" and
	// "Refreshing user access tokens": expires_in 28800 (8 h), a refresh
	// token of six months that is replaced on every use; errors come back
	// with HTTP 200 and an `error` field.
	"github": {
		Name:                   "github",
		Grant:                  GrantRefreshToken,
		AuthorizeURL:           "https://github.com/login/oauth/authorize",
		TokenURL:               "https://github.com/login/oauth/access_token",
		AuthStyle:              AuthPost,
		PKCE:                   true,
		Lifetime:               8 * time.Hour,
		DeviceAuthorizationURL: "https://github.com/login/device/code",
		Notes:                  "GitHub App user tokens: 8-hour access tokens, single-use 6-month refresh tokens; errors answered with HTTP 200",
	},
	// Salesforce "OAuth 2.0 Web Server Flow" and "Token Introspection": the
	// token response has no expires_in (the session timeout of the org
	// applies, 2 h by default) and carries instance_url, the API host.
	"salesforce": {
		Name:             "salesforce",
		Grant:            GrantRefreshToken,
		AuthorizeURL:     "https://login.salesforce.com/services/oauth2/authorize",
		TokenURL:         "https://login.salesforce.com/services/oauth2/token",
		IntrospectionURL: "https://login.salesforce.com/services/oauth2/introspect",
		AuthStyle:        AuthPost,
		PKCE:             true,
		Lifetime:         time.Hour,
		ExtraFields:      []string{"instance_url"},
		Notes:            "no expires_in: the expiry comes from introspection, else default_lifetime (1 h; set the org's session timeout); sandboxes use test.salesforce.com",
	},
	// Xero "OAuth 2.0 auth flow": Basic client authentication, access
	// tokens of 30 minutes, refresh tokens rotated on use (the old one is
	// accepted for a 30-minute grace period) and expiring after 60 days.
	"xero": {
		Name:             "xero",
		Grant:            GrantRefreshToken,
		AuthorizeURL:     "https://login.xero.com/identity/connect/authorize",
		TokenURL:         "https://identity.xero.com/connect/token",
		IntrospectionURL: "https://identity.xero.com/connect/introspect",
		AuthStyle:        AuthBasic,
		PKCE:             true,
		Lifetime:         30 * time.Minute,
		Notes:            "include offline_access in scopes; refresh tokens rotate and expire after 60 days unused",
	},
	// Okta "OpenID Connect & OAuth 2.0 API": the default custom
	// authorization server of an org domain; another authorization server:
	// set issuer = "https://DOMAIN/oauth2/ID" (discovered).
	"okta": {
		Name:                   "okta",
		Grant:                  GrantRefreshToken,
		AuthorizeURL:           "https://{domain}/oauth2/default/v1/authorize",
		TokenURL:               "https://{domain}/oauth2/default/v1/token",
		IntrospectionURL:       "https://{domain}/oauth2/default/v1/introspect",
		AuthStyle:              AuthBasic,
		PKCE:                   true,
		Lifetime:               time.Hour,
		Vars:                   map[string]string{"domain": ""},
		DeviceAuthorizationURL: "https://{domain}/oauth2/default/v1/device/authorize",
		Notes:                  "service apps that need Okta-scoped tokens use client_credentials with auth_style = \"private_key_jwt\"",
	},
	// Auth0 Authentication API: POST /oauth/token on the tenant domain; an
	// access token for an API needs its identifier as `audience`.
	"auth0": {
		Name:                   "auth0",
		Grant:                  GrantRefreshToken,
		AuthorizeURL:           "https://{domain}/authorize",
		TokenURL:               "https://{domain}/oauth/token",
		AuthStyle:              AuthPost,
		PKCE:                   true,
		Lifetime:               24 * time.Hour,
		Vars:                   map[string]string{"domain": ""},
		DeviceAuthorizationURL: "https://{domain}/oauth/device/code",
		Notes:                  "set params = { audience = \"https://api.example\" } (and the same in authorize_url) for API access tokens",
	},
	// Keycloak: one issuer per realm, https://HOST/realms/REALM; endpoints
	// are discovered from it. Access tokens last 5 minutes by default.
	"keycloak": {
		Name:      "keycloak",
		Grant:     GrantRefreshToken,
		AuthStyle: AuthBasic,
		PKCE:      true,
		Lifetime:  5 * time.Minute,
		Notes:     "set issuer = \"https://HOST/realms/REALM\"; endpoints are discovered; client secret, private_key_jwt or client_secret_jwt",
	},
	// Zoho "OAuth 2.0" (accounts server per data centre: accounts.zoho.com,
	// .eu, .in, .com.au, .jp, .com.cn, ...): access tokens of one hour;
	// refresh answers carry no refresh token (the one held stays valid);
	// at most 10 access tokens per refresh token in 10 minutes.
	"zoho": {
		Name:         "zoho",
		Grant:        GrantRefreshToken,
		AuthorizeURL: "{accounts_url}/oauth/v2/auth?access_type=offline&prompt=consent",
		TokenURL:     "{accounts_url}/oauth/v2/token",
		AuthStyle:    AuthPost,
		Lifetime:     time.Hour,
		Vars:         map[string]string{"accounts_url": "https://accounts.zoho.com"},
		ProviderRate: 0.1,
		ExtraFields:  []string{"api_domain"},
		Notes:        "accounts_url of the account's data centre; refresh tokens never rotate; one refresh per 10 s per accounts host by default",
	},
	// Google "Using OAuth 2.0 for Server to Server Applications": a JWT
	// (RS256, kid = private_key_id) with iss = client_email, scope, aud =
	// token_uri, exp at most 1 h after iat; access tokens live 1 h; no
	// refresh token. The key file's token_uri is the token URL.
	"google-service-account": {
		Name:      "google-service-account",
		Grant:     GrantJWTBearer,
		AuthStyle: AuthNone, // the assertion is the credential
		Scopes:    []string{"https://www.googleapis.com/auth/cloud-platform"},
		Lifetime:  time.Hour,
		Notes:     "service_account_file (the JSON key as downloaded); scopes go in the assertion's scope claim; tokend signs a new assertion before each hour is up",
	},
	// GitHub "Authenticating as a GitHub App installation": an RS256 app JWT
	// (iat 60 s back, exp <= 10 min, iss = app id or client id) exchanged at
	// POST {api}/app/installations/{id}/access_tokens for a 1-hour token that
	// cannot be renewed.
	"github-app": {
		Name:      "github-app",
		Grant:     GrantGitHubApp,
		AuthStyle: AuthNone, // the app JWT is the credential
		Lifetime:  time.Hour,
		Notes:     "app_id (or client_id), installation_id, private_key_file; api_url for GitHub Enterprise Server; a new installation token is minted before each hour is up",
	},
}

// LookupPreset returns a copy of the named preset. ok is false for an
// unknown name; "" is not a preset name (config maps it to "generic").
func LookupPreset(name string) (Preset, bool) {
	p, ok := presets[name]
	if !ok {
		return Preset{}, false
	}
	p.Headers = maps.Clone(p.Headers)
	p.Scopes = slices.Clone(p.Scopes)
	p.Vars = maps.Clone(p.Vars)
	return p, true
}

// ExpandURL replaces each "{key}" of the preset's Vars in tmpl with
// value(key), or the var's default when value gives "". ok is false when a
// var tmpl uses has neither (the credential must set it).
func (p Preset) ExpandURL(tmpl string, value func(key string) string) (string, bool) {
	out := tmpl
	for _, k := range slices.Sorted(maps.Keys(p.Vars)) {
		ph := "{" + k + "}"
		if !strings.Contains(out, ph) {
			continue
		}
		v := value(k)
		if v == "" {
			v = p.Vars[k]
		}
		if v == "" {
			return "", false
		}
		out = strings.ReplaceAll(out, ph, strings.TrimRight(v, "/"))
	}
	return out, true
}

// PresetNames lists the preset names, sorted.
func PresetNames() []string { return slices.Sorted(maps.Keys(presets)) }

// CheckEndpointURL applies the token_url rules (absolute, no user info;
// https, or http only to a loopback host unless allowInsecure) to another
// endpoint URL configured under key, such as authorize_url or issuer.
func CheckEndpointURL(key, raw string, allowInsecure bool) error {
	_, errs := validateURL(key, raw, allowInsecure)
	return errors.Join(errs...)
}
