// Package jwtsign mints the short-lived JWTs tokend presents instead of a
// secret: client assertions (RFC 7523 §2.2, OpenID Connect Core §9
// private_key_jwt and client_secret_jwt), JWT-bearer grant assertions
// (RFC 7523 §2.1, Google service accounts) and GitHub App JWTs.
//
// Signing is go-jose's; this package only loads keys from PEM, picks the
// algorithm a key allows, and fills the header (kid, x5t#S256) and the
// registered claims every assertion needs (a fresh jti, iat, exp). Key
// material never appears in an error.
package jwtsign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// The signing algorithms tokend uses (RFC 7518 §3.1).
const (
	RS256 = string(jose.RS256)
	PS256 = string(jose.PS256)
	ES256 = string(jose.ES256)
	ES384 = string(jose.ES384)
	HS256 = string(jose.HS256)
)

// KeyAlgs lists the algorithms a private key may be used with, for config
// validation and its error messages.
var KeyAlgs = []string{RS256, PS256, ES256, ES384}

// ParsePrivateKey reads the first private key in a PEM document: PKCS#1
// ("RSA PRIVATE KEY"), SEC 1 ("EC PRIVATE KEY") or PKCS#8 ("PRIVATE KEY")
// holding an RSA or ECDSA key. Errors say what was found, never the key.
func ParsePrivateKey(pemBytes []byte) (crypto.Signer, error) {
	rest := pemBytes
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM private key found (want a block of type PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)")
		}
		switch block.Type {
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
			if err != nil {
				return nil, errors.New("RSA PRIVATE KEY block is not a valid PKCS#1 key")
			}
			return k, nil
		case "EC PRIVATE KEY":
			k, err := x509.ParseECPrivateKey(block.Bytes)
			if err != nil {
				return nil, errors.New("EC PRIVATE KEY block is not a valid SEC 1 key")
			}
			return k, nil
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, errors.New("PRIVATE KEY block is not a valid PKCS#8 key")
			}
			switch k := k.(type) {
			case *rsa.PrivateKey:
				return k, nil
			case *ecdsa.PrivateKey:
				return k, nil
			default:
				return nil, fmt.Errorf("PKCS#8 key of type %T is not supported (want RSA or ECDSA)", k)
			}
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("the private key is encrypted; give tokend an unencrypted key file readable only by its user")
		}
		// Other blocks (a certificate bundled with the key) are skipped.
	}
}

// DefaultAlg is the algorithm used with key when the config names none:
// RS256 for RSA, ES256 for P-256, ES384 for P-384.
func DefaultAlg(key crypto.Signer) (string, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return RS256, nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return ES256, nil
		case elliptic.P384():
			return ES384, nil
		}
		return "", fmt.Errorf("EC curve %s is not supported (want P-256 or P-384)", k.Curve.Params().Name)
	}
	return "", fmt.Errorf("key type %T is not supported", key)
}

// CheckAlg reports whether alg can be used with key.
func CheckAlg(key crypto.Signer, alg string) error {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if alg == RS256 || alg == PS256 {
			if k.N.BitLen() < 2048 {
				return fmt.Errorf("RSA key of %d bits is too short (want at least 2048)", k.N.BitLen())
			}
			return nil
		}
		return fmt.Errorf("signing_alg %s does not fit an RSA key (want RS256 or PS256)", alg)
	case *ecdsa.PrivateKey:
		want, err := DefaultAlg(k)
		if err != nil {
			return err
		}
		if alg != want {
			return fmt.Errorf("signing_alg %s does not fit an EC %s key (want %s)", alg, k.Curve.Params().Name, want)
		}
		return nil
	}
	return fmt.Errorf("key type %T is not supported", key)
}

// Thumbprint is the key's RFC 7638 JWK thumbprint (SHA-256, base64url): the
// `kid` tokend sends when the config names none, and what providers that
// register a JWK compute for it.
func Thumbprint(key crypto.Signer) (string, error) {
	jwk := jose.JSONWebKey{Key: key.Public()}
	sum, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("jwk thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// ParseCertificate reads the first certificate of a PEM document.
func ParseCertificate(pemBytes []byte) (*x509.Certificate, error) {
	rest := pemBytes
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM CERTIFICATE block found")
		}
		if block.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse certificate: %w", err)
			}
			return c, nil
		}
	}
}

// CertThumbprintS256 is the certificate's `x5t#S256` (RFC 7515 §4.1.8):
// the base64url SHA-256 of its DER. Microsoft Entra identifies a
// certificate credential by it.
func CertThumbprintS256(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// MatchesKey reports whether cert carries key's public half.
func MatchesKey(cert *x509.Certificate, key crypto.Signer) bool {
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(key.Public())
}

// Signer signs JWTs with one key and fixed header fields. It is safe for
// concurrent use.
type Signer struct {
	sig jose.Signer
	alg string
}

// Header holds the optional JOSE header fields of a Signer.
type Header struct {
	KeyID    string // `kid`; "" sends none
	X5TS256  string // `x5t#S256`; "" sends none
	NoJWTTyp bool   // omit `typ: JWT` (some verifiers reject unknown typ values; none reject JWT)
}

// NewSigner signs with key (a crypto.Signer from ParsePrivateKey, or a
// []byte secret for HS256) and alg.
func NewSigner(key any, alg string, h Header) (*Signer, error) {
	switch k := key.(type) {
	case crypto.Signer:
		if err := CheckAlg(k, alg); err != nil {
			return nil, err
		}
	case []byte:
		if alg != HS256 {
			return nil, fmt.Errorf("a shared secret signs with HS256, not %s", alg)
		}
		if len(k) < 32 {
			// RFC 7518 §3.2: a key of the same size as the hash output or larger.
			return nil, fmt.Errorf("a client secret of %d bytes is too short for HS256 (want at least 32)", len(k))
		}
	default:
		return nil, fmt.Errorf("key type %T is not supported", key)
	}
	opts := &jose.SignerOptions{}
	if !h.NoJWTTyp {
		opts = opts.WithType("JWT")
	}
	if h.KeyID != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), h.KeyID)
	}
	if h.X5TS256 != "" {
		opts = opts.WithHeader(jose.HeaderKey("x5t#S256"), h.X5TS256)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: key}, opts)
	if err != nil {
		return nil, fmt.Errorf("jose signer (%s): %w", alg, err)
	}
	return &Signer{sig: sig, alg: alg}, nil
}

// Alg is the signing algorithm.
func (s *Signer) Alg() string { return s.alg }

// Claims are the registered claims of an assertion (RFC 7519 §4.1) plus
// any others. Zero values are omitted.
type Claims struct {
	Issuer   string
	Subject  string
	Audience []string
	IssuedAt time.Time
	Expiry   time.Time
	// NotBefore is sent when set.
	NotBefore time.Time
	// ID is the `jti`; Assertion fills a fresh random one when empty and
	// FreshID is set.
	ID string
	// Extra claims (scope, ...); a key that is a registered claim above is
	// overridden by the field.
	Extra map[string]any
}

// Sign serialises c as a compact JWS.
func (s *Signer) Sign(c Claims) (string, error) {
	m := make(map[string]any, len(c.Extra)+7)
	for k, v := range c.Extra {
		m[k] = v
	}
	set := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	set("iss", c.Issuer)
	set("sub", c.Subject)
	set("jti", c.ID)
	switch len(c.Audience) {
	case 0:
	case 1:
		m["aud"] = c.Audience[0]
	default:
		m["aud"] = c.Audience
	}
	for k, t := range map[string]time.Time{"iat": c.IssuedAt, "exp": c.Expiry, "nbf": c.NotBefore} {
		if !t.IsZero() {
			m[k] = t.Unix()
		}
	}
	out, err := jwt.Signed(s.sig).Claims(m).Serialize()
	if err != nil {
		return "", fmt.Errorf("sign %s assertion: %w", s.alg, err)
	}
	return out, nil
}

// Assertion signs a client or grant assertion: iss, sub, aud as given, iat
// now, exp now+lifetime and a fresh random jti (RFC 7523 §3: the server may
// reject a jti it has seen).
func (s *Signer) Assertion(iss, sub string, aud []string, now time.Time, lifetime time.Duration, extra map[string]any) (string, error) {
	return s.Sign(Claims{
		Issuer: iss, Subject: sub, Audience: aud,
		IssuedAt: now, Expiry: now.Add(lifetime),
		ID: NewJTI(), Extra: extra,
	})
}

// NewJTI is a fresh 128-bit random identifier, hex-encoded.
func NewJTI() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// AlgNames is KeyAlgs joined for messages.
func AlgNames() string { return strings.Join(KeyAlgs, ", ") }
