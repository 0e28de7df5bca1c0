package grants

import (
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// AuthStyle names how the client authenticates to the token endpoint. The
// styles tokend speaks are the entries of authMethods.
type AuthStyle string

// The supported client authentication styles; each is one entry in authMethods.
const (
	// AuthBasic is client_secret_basic: id and secret are form-urlencoded
	// first (RFC 6749 §2.3.1), joined by ":" and base64-encoded.
	AuthBasic AuthStyle = "basic"
	// AuthPost is client_secret_post: client_id and client_secret in the body.
	AuthPost AuthStyle = "post"
	// AuthNone is a public client: client_id in the body, no secret sent.
	AuthNone AuthStyle = "none"
	// AuthBasicRaw sends `Authorization: Basic <ClientSecret>` with the secret
	// exactly as given (Basiq: the API key already is the base64 value). No
	// client_id is sent.
	AuthBasicRaw AuthStyle = "basic_raw"
	// AuthPrivateKeyJWT is private_key_jwt (RFC 7523 §2.2, OpenID Connect
	// Core §9): a fresh assertion signed with the client's private key.
	AuthPrivateKeyJWT AuthStyle = "private_key_jwt"
	// AuthClientSecretJWT is client_secret_jwt: the assertion signed with
	// HS256 and the client secret.
	AuthClientSecretJWT AuthStyle = "client_secret_jwt"
	// AuthClientAssertion sends an assertion minted elsewhere, read from
	// client_assertion_file on every request (workload identity federation).
	AuthClientAssertion AuthStyle = "client_assertion"
	// AuthTLSClient is tls_client_auth (RFC 8705 §2.1): a client
	// certificate in the TLS handshake, client_id in the body.
	AuthTLSClient AuthStyle = "tls_client_auth"
)

// DefaultAuthStyle is the auth style of a Config (and a credential) that
// names none.
const DefaultAuthStyle = AuthBasic

// SecretKind says which configured secret an auth method needs.
type SecretKind string

// The secrets an auth method can need.
const (
	SecretNone         SecretKind = ""              // a public client: no secret required
	SecretClientSecret SecretKind = "client_secret" // client_secret, _file or _env
	SecretAPIKey       SecretKind = "api_key"       // api_key, _file or _env (or a client secret)
)

// AuthMethod is one client authentication method (RFC 6749 §2.3, OpenID
// Connect Core §9): what it needs from the config, what it sends and how.
// The token request and the introspection request both go through Apply. A
// new method is one file with its Apply (and its Options, if it has keys of
// its own) plus one entry in authMethods. A method that authenticates at the
// TLS layer (tls_client_auth, RFC 8705 §2) sets ClientCertificate, which New
// installs in the Client's HTTP client; its Apply then only sends client_id.
type AuthMethod struct {
	Name AuthStyle
	// NeedsClientID says config validation requires client_id.
	NeedsClientID bool
	// Secret is the secret config validation requires (SecretNone: none).
	Secret SecretKind
	// Options returns empty options of the method's own config keys (see
	// Options; e.g. private_key_jwt's private_key_file, signing_alg); nil
	// when it has none. A new method declares its keys here.
	Options func() Options
	// Keys are the credential config keys this method uses beyond the ones
	// every method shares (client_id, client_secret*) that are still fields
	// of config.Credential rather than Options (api_key, which is one of the
	// client secret's sources). Config validation rejects a key that some
	// method lists but the credential's does not.
	Keys []string
	// BodyParams are the body parameters Apply sets: a configured param of
	// the same name is rejected (the protocol-owned ones are rejected anyway).
	BodyParams []string
	// SecretParams are the BodyParams whose values are secrets
	// (client_secret, client_assertion): no error may contain them, even
	// when a provider echoes them back.
	SecretParams []string
	// Headers are the request headers (canonical form) Apply sets: a
	// configured header of the same name is rejected.
	Headers []string
	// ClientCertificate returns the certificate the HTTP client presents in
	// the TLS handshake (nil: none); nil for methods that authenticate in
	// the request. New gives a Client whose method has one an HTTP client
	// of its own (see withTLS).
	ClientCertificate func(cfg *Config) *tls.Certificate
	// Validate checks the method's own parts of cfg (nil: nothing to check).
	Validate func(cfg *Config) []error
	// Apply adds the client authentication to a request's body v and
	// headers h. A non-nil *Error (permanent, CodeInvalidConfig, with no
	// secret in it) means the request cannot be sent.
	Apply func(cfg *Config, v url.Values, h http.Header) *Error
}

// authMethods is the table of client authentication methods.
var authMethods = []AuthMethod{
	{Name: AuthBasic, NeedsClientID: true, Secret: SecretClientSecret, Headers: []string{"Authorization"}, Apply: applyBasic},
	{Name: AuthPost, NeedsClientID: true, Secret: SecretClientSecret, BodyParams: []string{"client_id", "client_secret"},
		SecretParams: []string{"client_secret"}, Apply: applyPost},
	{Name: AuthNone, NeedsClientID: true, BodyParams: []string{"client_id"}, Apply: applyNone},
	{Name: AuthBasicRaw, Secret: SecretAPIKey, Keys: []string{"api_key"}, Headers: []string{"Authorization"}, Apply: applyBasicRaw},
	{Name: AuthPrivateKeyJWT, NeedsClientID: true, Options: newOptions[PrivateKeyJWTOptions](),
		BodyParams: assertionParams, SecretParams: []string{"client_assertion"}, Apply: applyPrivateKeyJWT},
	{Name: AuthClientSecretJWT, NeedsClientID: true, Secret: SecretClientSecret, Options: newOptions[ClientSecretJWTOptions](),
		BodyParams: assertionParams, SecretParams: []string{"client_assertion"}, Validate: validateClientSecretJWT, Apply: applyClientSecretJWT},
	{Name: AuthClientAssertion, NeedsClientID: true, Options: newOptions[ClientAssertionOptions](),
		BodyParams: assertionParams, SecretParams: []string{"client_assertion"}, Apply: applyClientAssertion},
	{Name: AuthTLSClient, NeedsClientID: true, Options: newOptions[TLSClientAuthOptions](),
		BodyParams: []string{"client_id"}, ClientCertificate: tlsClientCertificate, Apply: applyTLSClientAuth},
}

// LookupAuthMethod returns the method called name. For an unknown name the
// error lists the known ones: `unknown auth style "x" (supported: ...)`.
func LookupAuthMethod(name AuthStyle) (AuthMethod, error) {
	if m := authMethod(name); m != nil {
		return *m, nil
	}
	return AuthMethod{}, fmt.Errorf("unknown auth style %q (supported: %s)", name, strings.Join(AuthStyleNames(), ", "))
}

// AuthStyleNames lists the auth styles, in table order.
func AuthStyleNames() []string {
	names := make([]string, len(authMethods))
	for i, m := range authMethods {
		names[i] = string(m.Name)
	}
	return names
}

// AuthMethods returns a copy of the whole table, in order. The slices in
// the entries are shared: do not modify them.
func AuthMethods() []AuthMethod { return append([]AuthMethod(nil), authMethods...) }

// authMethod is the table entry called name, or nil.
func authMethod(name AuthStyle) *AuthMethod {
	for i := range authMethods {
		if authMethods[i].Name == name {
			return &authMethods[i]
		}
	}
	return nil
}

// applyBasic is client_secret_basic. RFC 6749 §2.3.1: form-urlencode id and
// secret before base64.
func applyBasic(cfg *Config, _ url.Values, h http.Header) *Error {
	pair := url.QueryEscape(cfg.ClientID) + ":" + url.QueryEscape(cfg.ClientSecret.Reveal())
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(pair)))
	return nil
}

// applyBasicRaw sends the secret as the Basic credentials, unchanged.
func applyBasicRaw(cfg *Config, _ url.Values, h http.Header) *Error {
	raw := cfg.ClientSecret.Reveal()
	if raw == "" || !validHeaderValue(raw) {
		return &Error{Code: CodeInvalidConfig, Class: ClassPermanent,
			Description: "auth style basic_raw needs a client secret without control characters"}
	}
	h.Set("Authorization", "Basic "+raw)
	return nil
}

// applyPost is client_secret_post (RFC 6749 §2.3.1): both in the body.
func applyPost(cfg *Config, v url.Values, h http.Header) *Error {
	applyNone(cfg, v, h)
	if !cfg.ClientSecret.IsZero() {
		v.Set("client_secret", cfg.ClientSecret.Reveal())
	}
	return nil
}

// applyNone is a public client (RFC 6749 §2.1): client_id in the body only.
func applyNone(cfg *Config, v url.Values, _ http.Header) *Error {
	if cfg.ClientID != "" {
		v.Set("client_id", cfg.ClientID)
	}
	return nil
}
