// Package secret holds credential material (tokens, client secrets, API keys)
// in a type that cannot be printed, logged or JSON-encoded by accident.
//
// A Secret's String, GoString, Format, MarshalJSON, MarshalText and zap
// marshalling all yield a redaction marker. The only way to get the value out
// is Reveal, which makes every use of the plain value easy to find in review.
package secret

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"go.uber.org/zap/zapcore"
)

// Redacted is what a Secret prints as in logs, errors and JSON.
const Redacted = "[redacted]"

// Secret is an opaque credential value. The zero value is the empty secret.
// It is a struct rather than a named string so that string(s) does not compile.
type Secret struct{ v string }

// New wraps a plain value.
func New(v string) Secret { return Secret{v: v} }

// Reveal returns the plain value. Call it only where the value leaves the
// process on purpose: an HTTP request to the provider, a sink, the state store.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == "" }

// Equal reports whether two secrets hold the same value.
func (s Secret) Equal(o Secret) bool { return s.v == o.v }

// Fingerprint returns a short, stable, non-reversible identifier of the value
// (the first 8 hex digits of its SHA-256) so operators can tell tokens apart
// in logs without seeing them. The empty secret has the fingerprint "none".
func (s Secret) Fingerprint() string {
	if s.v == "" {
		return "none"
	}
	sum := sha256.Sum256([]byte(s.v))
	return hex.EncodeToString(sum[:4])
}

// String implements fmt.Stringer with a redaction marker.
func (s Secret) String() string {
	if s.v == "" {
		return ""
	}
	return Redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return "secret.Secret{" + Redacted + "}" }

// Format makes every fmt verb (%s, %v, %q, %x, ...) print the marker.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// MarshalJSON encodes the marker, never the value.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalText encodes the marker, never the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalLogObject lets zap.Object log a secret as its fingerprint.
func (s Secret) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("fingerprint", s.Fingerprint())
	return nil
}
