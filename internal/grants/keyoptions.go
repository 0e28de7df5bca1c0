package grants

import (
	"crypto"
	"fmt"
	"slices"
	"time"

	"github.com/tokend/tokend/internal/jwtsign"
	"github.com/tokend/tokend/internal/secret"
)

// KeyOptions are the keys of a signing key that a grant (jwt_bearer,
// github_app) signs its JWT with: embedded in the grant's options, so its
// keys are the grant's (config/kindopts.go follows embedded structs). The
// key is a secret: read by ResolveSecrets (through config.ResolveSecrets,
// again on every reload), kept only in memory, never in an error.
//
// An auth method that signs client assertions (private_key_jwt) uses keys
// of the same names; a credential that sets both a signing grant and such a
// method decodes the same keys into both, so they sign with the same key.
type KeyOptions struct {
	// PrivateKeyFile is a PEM file holding an RSA or EC private key
	// (PKCS#1, PKCS#8 or SEC 1).
	PrivateKeyFile string `toml:"private_key_file"`
	// PrivateKeyEnv names an environment variable holding the PEM instead.
	PrivateKeyEnv string `toml:"private_key_env"`
	// SigningAlg is RS256, PS256, ES256 or ES384; "" picks the key's
	// default (jwtsign.DefaultAlg).
	SigningAlg string `toml:"signing_alg"`
	// KeyID is the JWS `kid`; "" leaves the default of the grant.
	KeyID string `toml:"key_id"`

	key crypto.Signer // resolved by resolveKey
}

// SecretFiler is implemented by options that name files holding secrets
// (keys, service-account keys, token files): config warns when one is
// readable by group or others, as it does for an inline secret.
type SecretFiler interface {
	SecretFiles() []string
}

// SecretFiles implements SecretFiler: the private key file, if any.
func (o *KeyOptions) SecretFiles() []string {
	if o.PrivateKeyFile == "" {
		return nil
	}
	return []string{o.PrivateKeyFile}
}

// keyConfigured reports whether a key source is set.
func (o *KeyOptions) keyConfigured() bool { return o.PrivateKeyFile != "" || o.PrivateKeyEnv != "" }

// validateKey reports the key keys' problems through bad. required says
// the grant needs a key from these keys (not from elsewhere, such as a
// service-account file).
func (o *KeyOptions) validateKey(bad func(field, format string, args ...any), required bool) {
	switch {
	case o.PrivateKeyFile != "" && o.PrivateKeyEnv != "":
		bad("private_key_file", "set only one of private_key_file and private_key_env")
	case required && !o.keyConfigured():
		bad("private_key_file", "is required (a PEM private key; or private_key_env)")
	}
	if o.SigningAlg != "" && !slices.Contains(jwtsign.KeyAlgs, o.SigningAlg) {
		bad("signing_alg", "unknown algorithm %q (supported: %s)", o.SigningAlg, jwtsign.AlgNames())
	}
}

// resolveKey reads and parses the configured key, with read for files (the
// trimming rules of client_secret_file). It checks that signing_alg fits
// the key. Errors name the source, never the key.
func (o *KeyOptions) resolveKey(read func(path string) (secret.Secret, error)) error {
	if !o.keyConfigured() {
		return nil
	}
	key, err := loadPrivateKey(o.PrivateKeyFile, o.PrivateKeyEnv, read) // keyfiles.go: mode check, file or env
	if err != nil {
		return err
	}
	src := "private_key_file " + o.PrivateKeyFile
	if o.PrivateKeyFile == "" {
		src = "private_key_env " + o.PrivateKeyEnv
	}
	return o.setKey(key, src)
}

// setKey keeps key after checking signing_alg against it.
func (o *KeyOptions) setKey(key crypto.Signer, src string) error {
	if _, err := o.alg(key); err != nil {
		return fmt.Errorf("private key in %s: %w", src, err)
	}
	o.key = key
	return nil
}

// alg is the configured signing_alg, or key's default; an error when they
// do not fit.
func (o *KeyOptions) alg(key crypto.Signer) (string, error) {
	alg := o.SigningAlg
	if alg == "" {
		var err error
		if alg, err = jwtsign.DefaultAlg(key); err != nil {
			return "", err
		}
	}
	return alg, jwtsign.CheckAlg(key, alg)
}

// signer is a jwtsign.Signer for the resolved key with kid (when non-empty;
// KeyID wins over it). A missing key is a permanent config error naming
// what to set.
func (o *KeyOptions) signer(kid string) (*jwtsign.Signer, *Error) {
	if o == nil || o.key == nil {
		return nil, &Error{Code: CodeInvalidConfig, Class: ClassPermanent,
			Description: "no signing key loaded (private_key_file or private_key_env, read at start-up)"}
	}
	alg, err := o.alg(o.key)
	if err != nil {
		return nil, &Error{Code: CodeInvalidConfig, Class: ClassPermanent, Description: "signing key: " + err.Error()}
	}
	if o.KeyID != "" {
		kid = o.KeyID
	}
	s, err := jwtsign.NewSigner(o.key, alg, jwtsign.Header{KeyID: kid})
	if err != nil {
		return nil, &Error{Code: CodeInvalidConfig, Class: ClassPermanent, Description: "signing key: " + err.Error()}
	}
	return s, nil
}

// thumbprint is the resolved key's RFC 7638 thumbprint ("" without a key).
func (o *KeyOptions) thumbprint() string {
	if o == nil || o.key == nil {
		return ""
	}
	tp, _ := jwtsign.Thumbprint(o.key)
	return tp
}

// signingError wraps a failure to sign (never expected with a checked key)
// as a permanent config error.
func signingError(err error) *Error {
	return &Error{Code: CodeInvalidConfig, Class: ClassPermanent, Description: "signing the JWT failed", Err: err}
}

// configNow is cfg.Now, or time.Now when unset.
func configNow(cfg *Config) time.Time {
	if cfg.Now != nil {
		return cfg.Now()
	}
	return time.Now()
}
