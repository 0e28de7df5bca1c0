package jwtsign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io"
	"math/big"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func pemOf(t *testing.T, typ string, der []byte) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestParsePrivateKeyEveryEncoding(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p8rsa, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	p8ec, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	sec1, _ := x509.MarshalECPrivateKey(ecKey)
	cases := []struct {
		name string
		pem  []byte
		alg  string
		pub  crypto.PublicKey
	}{
		{"pkcs1", pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), RS256, rsaKey.Public()},
		{"pkcs8 rsa", pemOf(t, "PRIVATE KEY", p8rsa), RS256, rsaKey.Public()},
		{"pkcs8 ec", pemOf(t, "PRIVATE KEY", p8ec), ES256, ecKey.Public()},
		{"sec1", pemOf(t, "EC PRIVATE KEY", sec1), ES256, ecKey.Public()},
		// a certificate before the key is skipped
		{"cert first", append(pemOf(t, "CERTIFICATE", []byte{1, 2, 3}), pemOf(t, "EC PRIVATE KEY", sec1)...), ES256, ecKey.Public()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, err := ParsePrivateKey(c.pem)
			if err != nil {
				t.Fatal(err)
			}
			if !k.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(c.pub) {
				t.Fatal("parsed a different key")
			}
			alg, err := DefaultAlg(k)
			if err != nil || alg != c.alg {
				t.Fatalf("DefaultAlg = %q, %v; want %s", alg, err, c.alg)
			}
		})
	}
}

func TestParsePrivateKeyErrorsNameNoKeyMaterial(t *testing.T) {
	garbage := pemOf(t, "RSA PRIVATE KEY", []byte("SECRET-KEY-BYTES-xyz"))
	for _, in := range [][]byte{nil, []byte("SECRET-KEY-BYTES-xyz"), garbage, pemOf(t, "ENCRYPTED PRIVATE KEY", []byte("SECRET-KEY-BYTES-xyz"))} {
		_, err := ParsePrivateKey(in)
		if err == nil {
			t.Fatalf("ParsePrivateKey(%q) succeeded", in)
		}
		if strings.Contains(err.Error(), "SECRET-KEY-BYTES") || strings.Contains(err.Error(), base64.StdEncoding.EncodeToString([]byte("SECRET-KEY-BYTES-xyz"))) {
			t.Fatalf("error carries key material: %v", err)
		}
	}
}

// TestThumbprintRFC7638 checks the kid default against the example of
// RFC 7638 §3.1.
func TestThumbprintRFC7638(t *testing.T) {
	n := "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
	nb, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil {
		t.Fatal(err)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: 65537}
	got, err := Thumbprint(pubOnly{pub})
	if err != nil {
		t.Fatal(err)
	}
	if want := "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Fatalf("thumbprint = %s, want %s", got, want)
	}
}

// pubOnly is a crypto.Signer that only knows its public half.
type pubOnly struct{ pub crypto.PublicKey }

func (p pubOnly) Public() crypto.PublicKey { return p.pub }
func (pubOnly) Sign(_ io.Reader, _ []byte, _ crypto.SignerOpts) ([]byte, error) {
	return nil, nil
}

func TestCheckAlg(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	ec256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, c := range []struct {
		key crypto.Signer
		alg string
		ok  bool
	}{
		{rsaKey, RS256, true}, {rsaKey, PS256, true}, {rsaKey, ES256, false},
		{small, RS256, false}, {ec256, ES256, true}, {ec256, RS256, false}, {ec256, ES384, false},
	} {
		if err := CheckAlg(c.key, c.alg); (err == nil) != c.ok {
			t.Errorf("CheckAlg(%T, %s) = %v, want ok=%v", c.key, c.alg, err, c.ok)
		}
	}
}

func TestAssertionVerifiesWithPublicKey(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert := selfSigned(t, rsaKey)
	for _, c := range []struct {
		key crypto.Signer
		alg string
	}{{rsaKey, RS256}, {rsaKey, PS256}, {ecKey, ES256}} {
		t.Run(c.alg, func(t *testing.T) {
			kid, _ := Thumbprint(c.key)
			h := Header{KeyID: kid}
			if c.key == crypto.Signer(rsaKey) {
				h.X5TS256 = CertThumbprintS256(cert)
			}
			s, err := NewSigner(c.key, c.alg, h)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now().Truncate(time.Second)
			raw, err := s.Assertion("client", "client", []string{"https://idp/token"}, now, 2*time.Minute, map[string]any{"scope": "a b"})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(c.alg)})
			if err != nil {
				t.Fatal(err)
			}
			hdr := tok.Headers[0]
			if hdr.KeyID != kid || hdr.ExtraHeaders["typ"] != "JWT" {
				t.Fatalf("header = %+v", hdr)
			}
			if h.X5TS256 != "" && hdr.ExtraHeaders["x5t#S256"] != h.X5TS256 {
				t.Fatalf("x5t#S256 = %v, want %s", hdr.ExtraHeaders["x5t#S256"], h.X5TS256)
			}
			var std jwt.Claims
			var extra map[string]any
			if err := tok.Claims(c.key.Public(), &std, &extra); err != nil {
				t.Fatalf("signature does not verify: %v", err)
			}
			if err := std.ValidateWithLeeway(jwt.Expected{Issuer: "client", Subject: "client", AnyAudience: jwt.Audience{"https://idp/token"}, Time: now}, 0); err != nil {
				t.Fatal(err)
			}
			if std.Expiry.Time().Sub(std.IssuedAt.Time()) != 2*time.Minute || len(std.ID) != 32 || extra["scope"] != "a b" {
				t.Fatalf("claims = %+v %v", std, extra)
			}
			again, _ := s.Assertion("client", "client", []string{"https://idp/token"}, now, 2*time.Minute, nil)
			if again == raw {
				t.Fatal("two assertions are identical: jti not fresh")
			}
		})
	}
}

func TestHS256NeedsALongSecret(t *testing.T) {
	if _, err := NewSigner([]byte("short"), HS256, Header{}); err == nil || strings.Contains(err.Error(), "short\"") {
		t.Fatalf("short secret: %v", err)
	}
	secret := []byte(strings.Repeat("k", 32))
	s, err := NewSigner(secret, HS256, Header{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := s.Assertion("c", "c", []string{"aud"}, time.Now(), time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := tok.Claims(secret, &m); err != nil {
		t.Fatal(err)
	}
	if _, err := NewSigner(secret, RS256, Header{}); err == nil {
		t.Fatal("a shared secret accepted RS256")
	}
}

func TestCertificateThumbprintAndMatch(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert := selfSigned(t, key)
	parsed, err := ParseCertificate(pemOf(t, "CERTIFICATE", cert.Raw))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.Raw)
	if CertThumbprintS256(parsed) != base64.RawURLEncoding.EncodeToString(sum[:]) {
		t.Fatal("x5t#S256 is not the SHA-256 of the DER")
	}
	if !MatchesKey(parsed, key) || MatchesKey(parsed, other) {
		t.Fatal("MatchesKey is wrong")
	}
	if _, err := ParseCertificate([]byte("nope")); err == nil {
		t.Fatal("no error for a file without a certificate")
	}
}

func selfSigned(t *testing.T, key crypto.Signer) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tokend-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
