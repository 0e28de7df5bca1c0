package grants

import (
	"errors"
	"maps"
	"slices"
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
	return p, true
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
