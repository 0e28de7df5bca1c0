package grants

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tokend/tokend/internal/jwtsign"
	"github.com/tokend/tokend/internal/secret"
)

// GrantJWTBearer presents a signed JWT as the authorization grant (RFC 7523
// §2.1): Google service accounts, and any server that trusts a key for an
// issuer/subject pair (fosite, Keycloak, Okta). There is no refresh token:
// tokend signs a new assertion before the access token expires.
const GrantJWTBearer Grant = "jwt_bearer"

// JWTBearerGrantType is the grant_type value of RFC 7523 §2.1.
const JWTBearerGrantType = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// GoogleTokenURL is Google's token endpoint: the token_uri of every Google
// service-account key, and the token URL a jwt_bearer credential with a
// service_account_file is validated against before the file is read.
const GoogleTokenURL = "https://oauth2.googleapis.com/token"

// JWTBearerLifetime is the `exp - iat` of every jwt_bearer assertion.
// Google refuses more than one hour; the assertion is spent at once, so
// half of that leaves room for a clock that runs ahead without making a
// captured assertion useful for long.
const JWTBearerLifetime = 30 * time.Minute

// Where jwt_bearer sends the scopes (the scopes_in key).
const (
	ScopesInAssertion = "assertion" // the assertion's `scope` claim (Google)
	ScopesInBody      = "body"      // the request's `scope` parameter (RFC 7523 §2.1, RFC 6749 §3.3)
	ScopesInBoth      = "both"
)

// JWTBearerOptions are the jwt_bearer grant's own keys: a signing key
// (KeyOptions) and the claims, or a Google service-account key file that
// supplies both.
type JWTBearerOptions struct {
	KeyOptions
	// ServiceAccountFile is a Google service-account JSON key, as
	// downloaded: client_email is the issuer, private_key signs,
	// private_key_id is the kid and token_uri the audience and, unless
	// token_url is set, the token URL.
	ServiceAccountFile string `toml:"service_account_file"`
	// AssertionIssuer is `iss`: default the service account's client_email,
	// else client_id.
	AssertionIssuer string `toml:"assertion_issuer"`
	// AssertionSubject is `sub`: default the issuer (RFC 7523 §3 requires
	// one); with a service account, none unless set (Google: the user to
	// impersonate with domain-wide delegation).
	AssertionSubject string `toml:"assertion_subject"`
	// AssertionAudience is `aud`: default the service account's token_uri,
	// else the token URL.
	AssertionAudience string `toml:"assertion_audience"`
	// ScopesIn is where the scopes go: "assertion" (default with a service
	// account: Google reads the claim), "body" (default otherwise) or "both".
	ScopesIn string `toml:"scopes_in"`

	sa *serviceAccount // resolved from ServiceAccountFile
}

// serviceAccount is the non-secret part of a Google service-account key.
type serviceAccount struct{ email, keyID, tokenURI string }

// Defaults implements Options.
func (o *JWTBearerOptions) Defaults() {
	if o.ScopesIn == "" {
		o.ScopesIn = ScopesInBody
		if o.ServiceAccountFile != "" {
			o.ScopesIn = ScopesInAssertion
		}
	}
}

// Validate implements Options.
func (o *JWTBearerOptions) Validate(bad func(field, format string, args ...any)) {
	if o.ServiceAccountFile != "" && o.keyConfigured() {
		bad("service_account_file", "set either service_account_file or private_key_file/private_key_env, not both")
	}
	o.validateKey(bad, o.ServiceAccountFile == "")
	if o.ServiceAccountFile != "" && slices.Contains(jwtsign.KeyAlgs, o.SigningAlg) && o.SigningAlg != jwtsign.RS256 {
		bad("signing_alg", "Google service-account keys sign with RS256")
	}
	switch o.ScopesIn {
	case ScopesInAssertion, ScopesInBody, ScopesInBoth:
	default:
		bad("scopes_in", "unknown value %q (assertion, body, both)", o.ScopesIn)
	}
}

// ResolveSecrets implements SecretOptions: it reads the service-account
// key or the private key.
func (o *JWTBearerOptions) ResolveSecrets(read func(path string) (secret.Secret, error)) error {
	if o.ServiceAccountFile == "" {
		return o.resolveKey(read)
	}
	raw, err := read(o.ServiceAccountFile)
	if err != nil {
		return fmt.Errorf("service account key: %w", err)
	}
	var f struct {
		Type         string `json:"type"`
		ClientEmail  string `json:"client_email"`
		PrivateKey   string `json:"private_key"`
		PrivateKeyID string `json:"private_key_id"`
		TokenURI     string `json:"token_uri"`
	}
	if json.Unmarshal([]byte(raw.Reveal()), &f) != nil { // the decoder's error could quote the key
		return fmt.Errorf("service account key %s is not JSON", o.ServiceAccountFile)
	}
	switch {
	case f.Type != "" && f.Type != "service_account":
		return fmt.Errorf("service account key %s has type %q (want service_account)", o.ServiceAccountFile, f.Type)
	case f.ClientEmail == "" || f.PrivateKey == "":
		return fmt.Errorf("service account key %s lacks client_email or private_key", o.ServiceAccountFile)
	}
	if f.TokenURI != "" {
		if err := CheckEndpointURL("token_uri", f.TokenURI, false); err != nil {
			return fmt.Errorf("service account key %s: %w", o.ServiceAccountFile, err)
		}
	}
	key, err := jwtsign.ParsePrivateKey([]byte(f.PrivateKey))
	if err != nil {
		return fmt.Errorf("service account key %s: private_key: %w", o.ServiceAccountFile, err)
	}
	if err := o.setKey(key, o.ServiceAccountFile); err != nil {
		return err
	}
	o.sa = &serviceAccount{email: f.ClientEmail, keyID: f.PrivateKeyID, tokenURI: f.TokenURI}
	return nil
}

// SecretFiles implements SecretFiler: the key file or the service-account key.
func (o *JWTBearerOptions) SecretFiles() []string {
	if o.ServiceAccountFile != "" {
		return append(o.KeyOptions.SecretFiles(), o.ServiceAccountFile)
	}
	return o.KeyOptions.SecretFiles()
}

// ScopesInBody implements bodyScoper: whether the Client adds the scope
// parameter.
func (o *JWTBearerOptions) ScopesInBody() bool { return o.ScopesIn != ScopesInAssertion }

// jwtBearerOptions is cfg's jwt_bearer options (empty ones when unset).
func jwtBearerOptions(cfg *Config) *JWTBearerOptions {
	if o, ok := cfg.GrantOptions.(*JWTBearerOptions); ok && o != nil {
		return o
	}
	o := &JWTBearerOptions{}
	o.Defaults()
	return o
}

// jwtBearerEndpoint is the service account's token_uri; Google's token
// endpoint before the file is read; "" without a service account.
func jwtBearerEndpoint(cfg *Config) string {
	o := jwtBearerOptions(cfg)
	switch {
	case o.sa != nil && o.sa.tokenURI != "":
		return o.sa.tokenURI
	case o.ServiceAccountFile != "":
		return GoogleTokenURL
	}
	return ""
}

// validateJWTBearer checks what the options cannot see alone: an issuer.
func validateJWTBearer(cfg *Config) []error {
	o := jwtBearerOptions(cfg)
	switch {
	case o.ServiceAccountFile == "" && o.AssertionIssuer == "" && cfg.ClientID == "":
		return []error{fmt.Errorf("grant %s needs assertion_issuer (or client_id, its default)", GrantJWTBearer)}
	case o.ServiceAccountFile != "" && o.ScopesIn != ScopesInBody && len(cfg.Scopes) == 0:
		// Google refuses an assertion without a scope claim (invalid_scope).
		return []error{fmt.Errorf("grant %s with service_account_file needs scopes", GrantJWTBearer)}
	}
	return nil
}

// jwtBearerRequest signs a fresh assertion (RFC 7523 §3: iss, sub, aud,
// exp, iat, a new jti) and sends it as the grant.
func jwtBearerRequest(cfg *Config, _ GrantInput) (url.Values, []string, *Error) {
	o := jwtBearerOptions(cfg)
	iss, sub, aud := o.AssertionIssuer, o.AssertionSubject, o.AssertionAudience
	var kid string
	if o.sa != nil {
		iss, kid = or(iss, o.sa.email), o.sa.keyID
		aud = or(aud, or(o.sa.tokenURI, cfg.TokenURL))
	} else {
		iss, kid = or(iss, cfg.ClientID), o.thumbprint()
		sub, aud = or(sub, iss), or(aud, cfg.TokenURL)
	}
	s, e := o.signer(kid)
	if e != nil {
		return nil, nil, e
	}
	var extra map[string]any
	if o.ScopesIn != ScopesInBody && len(cfg.Scopes) > 0 {
		extra = map[string]any{"scope": strings.Join(cfg.Scopes, " ")}
	}
	a, err := s.Assertion(iss, sub, []string{aud}, configNow(cfg), JWTBearerLifetime, extra)
	if err != nil {
		return nil, nil, signingError(err)
	}
	return url.Values{"grant_type": {JWTBearerGrantType}, "assertion": {a}}, []string{a}, nil
}

// or is v, or def when v is empty.
func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
