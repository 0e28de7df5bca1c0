package grants

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/secret"
)

// testKeys are generated once per test binary: RSA key generation is slow.
var testKeys = sync.OnceValue(func() struct{ rsa, ec crypto.Signer } {
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	e, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return struct{ rsa, ec crypto.Signer }{r, e}
})

// keyPEM is key as a PKCS#8 PEM document.
func keyPEM(t *testing.T, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// selfSigned is a certificate for key signed by parent (nil: by itself),
// for the subject CN cn; isCA makes it a CA.
func selfSigned(t *testing.T, key crypto.Signer, cn string, isCA bool, parent *x509.Certificate, parentKey crypto.Signer) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"tokend test"}},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: isCA,
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// writeFile writes data to name in dir with mode and returns the path.
func writeFile(t *testing.T, dir, name string, data []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // umask
		t.Fatal(err)
	}
	return p
}

// readForTest is config.ReadSecretFile's rules (trailing newlines trimmed).
func readForTest(path string) (secret.Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return secret.Secret{}, err
	}
	return secret.New(string(b)), nil
}

// pkjOptions writes key (and cert, when non-nil) and resolves
// private_key_jwt options for them.
func pkjOptions(t *testing.T, key crypto.Signer, cert *x509.Certificate, edit func(*PrivateKeyJWTOptions)) *PrivateKeyJWTOptions {
	t.Helper()
	dir := t.TempDir()
	o := &PrivateKeyJWTOptions{PrivateKeyFile: writeFile(t, dir, "key.pem", keyPEM(t, key), 0o600)}
	if cert != nil {
		o.CertificateFile = writeFile(t, dir, "cert.pem", certPEM(cert), 0o644)
	}
	if edit != nil {
		edit(o)
	}
	o.Defaults()
	if err := o.ResolveSecrets(readForTest); err != nil {
		t.Fatalf("ResolveSecrets: %v", err)
	}
	return o
}

// longSecret is a client secret long enough for HS256 (RFC 7518 §3.2).
const longSecret = "cs-jwt-secret-0123456789abcdefghijklmnop"

// authFixture is what auth style m needs beyond validConfig's client id
// and secret to send a request: its options, read, and a secret it accepts.
func authFixture(t *testing.T, m AuthStyle) func(*Config) {
	t.Helper()
	switch m {
	case AuthPrivateKeyJWT:
		o := pkjOptions(t, testKeys().ec, nil, nil)
		return func(cfg *Config) { cfg.AuthOptions = o }
	case AuthClientSecretJWT:
		return func(cfg *Config) { cfg.ClientSecret = secret.New(longSecret) }
	case AuthClientAssertion:
		p := writeFile(t, t.TempDir(), "token", []byte(makeJWT(`{"sub":"system:serviceaccount:ns:sa"}`)+"\n"), 0o644)
		return func(cfg *Config) { cfg.AuthOptions = &ClientAssertionOptions{ClientAssertionFile: p} }
	case AuthTLSClient:
		dir := t.TempDir()
		key := testKeys().ec
		o := &TLSClientAuthOptions{
			ClientCertFile: writeFile(t, dir, "c.pem", certPEM(selfSigned(t, key, "svc", false, nil, nil)), 0o644),
			ClientKeyFile:  writeFile(t, dir, "k.pem", keyPEM(t, key), 0o600),
		}
		if err := o.ResolveSecrets(readForTest); err != nil {
			t.Fatal(err)
		}
		return func(cfg *Config) { cfg.AuthOptions = o }
	}
	return func(*Config) {}
}
