package grants

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/tokend/tokend/internal/secret"
)

// Grant names the grant type a Client renews with (RFC 6749 §1.3). The
// grant types tokend speaks are the entries of grantKinds.
type Grant string

// The grant types tokend speaks; each is one entry in grantKinds.
const (
	GrantRefreshToken      Grant = "refresh_token"
	GrantClientCredentials Grant = "client_credentials"
	GrantAuthorizationCode Grant = "authorization_code"
	// GrantJWTBearer, GrantGitHubApp and GrantTokenExchange are defined in
	// their files (jwtbearer.go, githubapp.go, tokenexchange.go).
)

// DefaultGrant is the grant of a credential that names none (and whose
// provider preset names none).
const DefaultGrant = GrantRefreshToken

// GrantKind is everything tokend knows about one grant type, in one place:
// config validation, the scheduler, `tokend authorize`/`import` and the
// Client ask it instead of comparing grant names. A new grant is one file
// with its request builder (and its Options, if it has keys of its own)
// plus one entry in grantKinds; if it needs a
// switch on its name anywhere else, this struct is missing a field.
type GrantKind struct {
	Name Grant
	// Configurable says a credential may name this grant in its `grant` key.
	// authorization_code is bootstrap-only: `tokend authorize` redeems the
	// code (Client.ExchangeCode), then the credential renews with
	// refresh_token.
	Configurable bool
	// Options returns empty options of the grant's own config keys (see
	// Options); nil when it has none. A new grant declares its keys here.
	Options func() Options
	// Keys are the credential config keys this grant uses beyond the ones
	// every grant shares (token_url, client_id, scopes, ...) that are still
	// fields of config.Credential rather than Options (send_grant_type,
	// whose default comes from the provider preset). Config validation
	// rejects a key that some kind lists but the credential's grant does not.
	Keys []string
	// SpendsRefreshToken says renewing presents the stored refresh token:
	// the scheduler refuses to renew without one, records a durable intent
	// before the request and commits the rotated token after it (the refresh
	// order), and seeds the first one from the file its options name
	// (Seeder: refresh_token_file).
	SpendsRefreshToken bool
	// NeedsBootstrap says the first tokens come from out of band (`tokend
	// authorize` or `tokend import`). When false, both commands refuse the
	// credential: tokend obtains its tokens by itself.
	NeedsBootstrap bool
	// Validate checks the grant's own parts of cfg (nil: nothing to check).
	// New and Validate call it after the generic checks.
	Validate func(cfg *Config) []error
	// Request builds the body of a renewal request (Client.Renew): the
	// grant's parameters and the values in them that must never appear in
	// an error. It adds no client authentication, scope or extra params:
	// the Client does, the same way for every grant (like x/oauth2's
	// RetrieveToken). A non-nil *Error is returned as is, without a request.
	Request func(cfg *Config, in GrantInput) (url.Values, []string, *Error)
	// AuthOptional says the grant authenticates by itself (a signed
	// assertion, RFC 7523 §3.1; a GitHub App JWT): a credential that names
	// no auth_style gets "none", which then needs no client_id.
	AuthOptional bool
	// Endpoint derives the URL the grant posts to from its options when the
	// credential sets no token_url ("" when they give none): github_app's
	// installation URL under api_url, a service-account key's token_uri.
	// A credential may then leave token_url unset. nil: token_url only.
	Endpoint func(cfg *Config) string
	// Prepare completes in before Request (or Send) with what lies outside
	// the config, such as another credential's token (token_exchange's
	// subject_credential, through Config.CredentialToken). nil: nothing.
	Prepare func(ctx context.Context, cfg *Config, in *GrantInput) *Error
	// Send replaces the token-endpoint request for a grant that speaks
	// another wire format (github_app: GitHub's REST API and its answer).
	// It goes through the Client's funnel (Client.roundTrip: 1 MiB cap,
	// network errors transient, Retry-After) and returns a classified
	// *Error with no secret in it. nil: Request through the token endpoint.
	Send func(ctx context.Context, c *Client, in GrantInput) (Token, *Error)
}

// GrantInput is what a grant's request builder may use besides the config.
type GrantInput struct {
	// RefreshToken is the stored refresh token (zero when there is none).
	RefreshToken secret.Secret
	// SubjectToken is another credential's current access token, filled by
	// the grant's Prepare (token_exchange's subject_credential).
	SubjectToken secret.Secret
}

// grantKinds is the table of grant types. LookupGrant hands out copies.
var grantKinds = []GrantKind{
	{
		Name: GrantRefreshToken, Configurable: true, Options: newOptions[RefreshTokenOptions](),
		SpendsRefreshToken: true, NeedsBootstrap: true, Request: refreshTokenRequest,
	},
	{
		Name: GrantClientCredentials, Configurable: true, Keys: []string{"send_grant_type"},
		Request: clientCredentialsRequest,
	},
	{
		// Tokens obtained with a code are renewed with their refresh token
		// (RFC 6749 §1.5); the code exchange itself is ExchangeCode.
		Name: GrantAuthorizationCode, SpendsRefreshToken: true, NeedsBootstrap: true, Request: refreshTokenRequest,
	},
	// The re-minted grants: no refresh token, renewed ahead of expiry like
	// client_credentials, with no intent record.
	{
		Name: GrantJWTBearer, Configurable: true, Options: newOptions[JWTBearerOptions](), AuthOptional: true,
		Validate: validateJWTBearer, Endpoint: jwtBearerEndpoint, Request: jwtBearerRequest,
	},
	{
		Name: GrantGitHubApp, Configurable: true, Options: newOptions[GitHubAppOptions](), AuthOptional: true,
		Validate: validateGitHubApp, Endpoint: gitHubAppEndpoint, Send: gitHubAppSend,
	},
	{
		Name: GrantTokenExchange, Configurable: true, Options: newOptions[TokenExchangeOptions](),
		Prepare: prepareTokenExchange, Request: tokenExchangeRequest,
	},
}

// LookupGrant returns the grant kind called name. For an unknown name the
// error lists the known ones: `unknown grant "x" (supported: ...)`.
func LookupGrant(name Grant) (GrantKind, error) {
	if k := grantKind(name); k != nil {
		return *k, nil
	}
	names := make([]string, len(grantKinds))
	for i, k := range grantKinds {
		names[i] = string(k.Name)
	}
	return GrantKind{}, fmt.Errorf("unknown grant %q (supported: %s)", name, strings.Join(names, ", "))
}

// GrantNames lists the grants a credential may configure (Configurable), in
// table order.
func GrantNames() []string {
	var names []string
	for _, k := range grantKinds {
		if k.Configurable {
			names = append(names, string(k.Name))
		}
	}
	return names
}

// GrantKinds returns a copy of the whole table, in order.
func GrantKinds() []GrantKind { return append([]GrantKind(nil), grantKinds...) }

// SpendsRefreshToken reports GrantKind.SpendsRefreshToken for g; false for
// an unknown grant.
func (g Grant) SpendsRefreshToken() bool {
	k := grantKind(g)
	return k != nil && k.SpendsRefreshToken
}

// grantKind is the table entry called name, or nil.
func grantKind(name Grant) *GrantKind {
	for i := range grantKinds {
		if grantKinds[i].Name == name {
			return &grantKinds[i]
		}
	}
	return nil
}

// clientCredentialsRequest asks for a token with the client's own
// credentials (RFC 6749 §4.4); with cfg.OmitGrantType the body carries no
// grant_type (Basiq). Any refresh token is ignored.
func clientCredentialsRequest(cfg *Config, _ GrantInput) (url.Values, []string, *Error) {
	if cfg.OmitGrantType {
		return url.Values{}, nil, nil
	}
	return url.Values{"grant_type": {string(GrantClientCredentials)}}, nil, nil
}
