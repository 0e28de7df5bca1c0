package grants

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/tokend/tokend/internal/jwtsign"
	"github.com/tokend/tokend/internal/secret"
)

// ClientAssertionType is the client_assertion_type of a JWT client
// assertion (RFC 7523 §2.2).
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// AssertionLifetime is how long a client assertion tokend signs is valid
// (exp - iat). Short, because it is minted for one request; long enough for
// a few minutes of clock skew between tokend and the server. Microsoft
// Entra refuses assertions valid for more than 10 minutes, Okta for more
// than one hour; every assertion also carries a fresh jti (RFC 7523 §3).
const AssertionLifetime = 2 * time.Minute

// The body parameters of the JWT client authentication methods.
var assertionParams = []string{"client_id", "client_assertion_type", "client_assertion"}

// PrivateKeyJWTOptions are private_key_jwt's keys (RFC 7523 §2.2, OpenID
// Connect Core §9): the client signs an assertion with its private key.
type PrivateKeyJWTOptions struct {
	// PrivateKeyFile is a PEM file with an RSA or EC key (PKCS#1, PKCS#8 or
	// SEC 1), unencrypted, not readable by others (`private_key_file`).
	PrivateKeyFile string `toml:"private_key_file"`
	// PrivateKeyEnv names an environment variable holding the same PEM text
	// (`private_key_env`), instead of the file.
	PrivateKeyEnv string `toml:"private_key_env"`
	// SigningAlg is RS256, PS256, ES256 or ES384 (`signing_alg`); "" means
	// the key's default (RS256 for RSA, ES256 for P-256, ES384 for P-384).
	SigningAlg string `toml:"signing_alg"`
	// KeyID is the `kid` header (`key_id`); "" means the key's RFC 7638 JWK
	// thumbprint, what a server computes for a registered JWK.
	KeyID string `toml:"key_id"`
	// CertificateFile is a PEM certificate of the key (`certificate_file`):
	// its SHA-256 thumbprint is sent as `x5t#S256`, which Microsoft Entra
	// uses to find a certificate credential. It must carry the key's public
	// half.
	CertificateFile string `toml:"certificate_file"`
	// AssertionAudience is the `aud` claim (`assertion_audience`); "" means
	// the token endpoint URL (RFC 7523 §3).
	AssertionAudience string `toml:"assertion_audience"`

	signer *jwtsign.Signer // built by ResolveSecrets; nil until then
	kid    string          // the kid it sends
}

// Defaults implements Options: nothing to fill (the key decides the alg).
func (*PrivateKeyJWTOptions) Defaults() {}

// Validate implements Options: a key source, and an algorithm tokend signs with.
func (o *PrivateKeyJWTOptions) Validate(bad func(field, format string, args ...any)) {
	validateKeySource(o.PrivateKeyFile, o.PrivateKeyEnv, bad)
	if o.SigningAlg != "" && !slices.Contains(jwtsign.KeyAlgs, o.SigningAlg) {
		bad("signing_alg", "unknown algorithm %q (supported: %s)", o.SigningAlg, jwtsign.AlgNames())
	}
	if o.AssertionAudience != "" {
		if _, errs := validateURL("assertion_audience", o.AssertionAudience, true); len(errs) > 0 {
			bad("assertion_audience", "must be an absolute URL")
		}
	}
}

// ResolveSecrets implements SecretOptions: it reads the key (refusing a file
// others can read), checks the algorithm against it, reads the certificate
// and checks that it is the key's, and builds the signer. A reload reads
// them again.
func (o *PrivateKeyJWTOptions) ResolveSecrets(read func(string) (secret.Secret, error)) error {
	key, err := loadPrivateKey(o.PrivateKeyFile, o.PrivateKeyEnv, read)
	if err != nil {
		return err
	}
	alg := o.SigningAlg
	if alg == "" {
		if alg, err = jwtsign.DefaultAlg(key); err != nil {
			return fmt.Errorf("private key: %w", err)
		}
	}
	h := jwtsign.Header{KeyID: o.KeyID}
	if h.KeyID == "" {
		if h.KeyID, err = jwtsign.Thumbprint(key); err != nil {
			return fmt.Errorf("private key: %w", err)
		}
	}
	if o.CertificateFile != "" {
		b, err := read(o.CertificateFile)
		if err != nil {
			return fmt.Errorf("certificate_file: %w", err)
		}
		cert, err := jwtsign.ParseCertificate([]byte(b.Reveal()))
		if err != nil {
			return fmt.Errorf("certificate_file %s: %w", o.CertificateFile, err)
		}
		if !jwtsign.MatchesKey(cert, key) {
			return fmt.Errorf("certificate_file %s is not the certificate of the private key", o.CertificateFile)
		}
		h.X5TS256 = jwtsign.CertThumbprintS256(cert)
	}
	s, err := jwtsign.NewSigner(key, alg, h)
	if err != nil {
		return fmt.Errorf("private key: %w", err)
	}
	o.signer, o.kid = s, h.KeyID
	return nil
}

// KeyIDInUse is the kid the assertions carry (key_id or the thumbprint of
// the key read); "" before ResolveSecrets.
func (o *PrivateKeyJWTOptions) KeyIDInUse() string { return o.kid }

// Loaded reports whether ResolveSecrets has built the signer.
func (o *PrivateKeyJWTOptions) Loaded() bool { return o != nil && o.signer != nil }

// ClientSecretJWTOptions are client_secret_jwt's keys (OpenID Connect Core
// §9): the assertion is signed with HS256 and the client secret.
type ClientSecretJWTOptions struct {
	// AssertionAudience is the `aud` claim; "" means the token endpoint URL.
	AssertionAudience string `toml:"assertion_audience"`
}

// Defaults implements Options: nothing to fill.
func (*ClientSecretJWTOptions) Defaults() {}

// Validate implements Options.
func (o *ClientSecretJWTOptions) Validate(bad func(field, format string, args ...any)) {
	if o.AssertionAudience != "" {
		if _, errs := validateURL("assertion_audience", o.AssertionAudience, true); len(errs) > 0 {
			bad("assertion_audience", "must be an absolute URL")
		}
	}
}

// validateClientSecretJWT refuses, once the secret is known (New, after
// the config's secrets are read), a client secret too short for HS256
// (RFC 7518 §3.2: at least 32 bytes), so the daemon says so at start-up
// rather than at the first request. The message gives the length only.
func validateClientSecretJWT(cfg *Config) []error {
	if n := len(cfg.ClientSecret.Reveal()); n > 0 && n < 32 {
		return []error{fmt.Errorf("auth style client_secret_jwt needs a client secret of at least 32 bytes for HS256 (RFC 7518 §3.2), not %d", n)}
	}
	return nil
}

// applyPrivateKeyJWT sends a fresh assertion signed with the private key:
// iss = sub = client_id, aud = assertion_audience or the token endpoint,
// iat now, exp now + AssertionLifetime, a random jti.
func applyPrivateKeyJWT(cfg *Config, v url.Values, _ http.Header) *Error {
	o, _ := cfg.AuthOptions.(*PrivateKeyJWTOptions)
	if !o.Loaded() {
		return &Error{Code: CodeInvalidConfig, Class: ClassPermanent,
			Description: "auth style private_key_jwt needs a private key (private_key_file or private_key_env) that has been read"}
	}
	return setAssertion(cfg, v, o.signer, o.AssertionAudience)
}

// applyClientSecretJWT sends a fresh HS256 assertion keyed with the client
// secret (RFC 7518 §3.2: at least 32 bytes).
func applyClientSecretJWT(cfg *Config, v url.Values, _ http.Header) *Error {
	if cfg.ClientSecret.IsZero() {
		return &Error{Code: CodeInvalidConfig, Class: ClassPermanent,
			Description: "auth style client_secret_jwt needs a client secret"}
	}
	s, err := jwtsign.NewSigner([]byte(cfg.ClientSecret.Reveal()), jwtsign.HS256, jwtsign.Header{})
	if err != nil {
		return &Error{Code: CodeInvalidConfig, Class: ClassPermanent, Description: "client_secret_jwt: " + err.Error()}
	}
	var aud string
	if o, ok := cfg.AuthOptions.(*ClientSecretJWTOptions); ok {
		aud = o.AssertionAudience
	}
	return setAssertion(cfg, v, s, aud)
}

// setAssertion signs the client assertion and puts it in the body.
func setAssertion(cfg *Config, v url.Values, s *jwtsign.Signer, aud string) *Error {
	if cfg.ClientID == "" {
		return &Error{Code: CodeInvalidConfig, Class: ClassPermanent, Description: "a client assertion needs client_id"}
	}
	if aud == "" {
		aud = cfg.TokenURL
	}
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	a, err := s.Assertion(cfg.ClientID, cfg.ClientID, []string{aud}, now(), AssertionLifetime, nil)
	if err != nil {
		// go-jose's signing errors name the algorithm or key type, never key bytes.
		return &Error{Code: CodeInvalidConfig, Class: ClassPermanent, Description: "signing the client assertion failed",
			Err: errors.Unwrap(err)}
	}
	v.Set("client_id", cfg.ClientID)
	v.Set("client_assertion_type", ClientAssertionType)
	v.Set("client_assertion", a)
	return nil
}
