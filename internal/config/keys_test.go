package config

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/jwtsign"
)

// keyFiles writes a fresh P-256 key (mode keyMode) and a self-signed
// certificate of it into dir.
func keyFiles(t *testing.T, dir string, keyMode os.FileMode) (key crypto.Signer, keyPath, certPath string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	keyPath = filepath.Join(dir, "key.pem")
	writeMode(t, keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), keyMode)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "svc"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	cder, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	certPath = filepath.Join(dir, "cert.pem")
	writeMode(t, certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cder}), 0o644)
	return k, keyPath, certPath
}

func writeMode(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// authKeys is the config an auth method needs beyond client_id and its
// secret: its own key files (written into dir).
func authKeys(t *testing.T, m grants.AuthStyle, dir string) string {
	t.Helper()
	_, keyPath, certPath := keyFiles(t, dir, 0o600)
	switch m {
	case grants.AuthPrivateKeyJWT:
		return fmt.Sprintf("private_key_file = %q\ncertificate_file = %q\n", keyPath, certPath)
	case grants.AuthClientAssertion:
		return fmt.Sprintf("client_assertion_file = %q\n", filepath.Join(dir, "projected-token"))
	case grants.AuthTLSClient:
		return fmt.Sprintf("client_cert_file = %q\nclient_key_file = %q\nca_file = %q\n", certPath, keyPath, certPath)
	}
	return ""
}

// TestKeyFilesAreCheckedAndReadAgain: a key file others can read is
// refused by ResolveSecrets (naming the file and mode, not the key);
// loading the same file again after it is replaced (what a reload does:
// LoadConfig = Load + ResolveSecrets) signs with the new key.
func TestKeyFilesAreCheckedAndReadAgain(t *testing.T) {
	dir := t.TempDir()
	_, keyPath, _ := keyFiles(t, dir, 0o644)
	cfgPath := filepath.Join(dir, "tokend.toml")
	writeMode(t, cfgPath, []byte(one(fmt.Sprintf(`grant = "client_credentials"
token_url = "https://idp.example/token"
client_id = "svc"
auth_style = "private_key_jwt"
private_key_file = %q`, keyPath))), 0o600)
	cfg, err := Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.ResolveSecrets()
	if err == nil || !strings.Contains(err.Error(), "private_key_file "+keyPath+" is readable or writable by other users (mode 0644)") {
		t.Fatalf("world-readable key: err = %v", err)
	}
	if strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Fatal("the error quotes the key")
	}
	thumb := func() string {
		t.Helper()
		cfg, err := Load(cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.ResolveSecrets(); err != nil {
			t.Fatal(err)
		}
		o := cfg.Credentials[0].AuthOptions.(*grants.PrivateKeyJWTOptions)
		if !o.Loaded() {
			t.Fatal("key not loaded")
		}
		return o.KeyIDInUse()
	}
	k1, _, _ := keyFiles(t, dir, 0o640) // group-readable is accepted
	first := thumb()
	if want, _ := jwtsign.Thumbprint(k1); first != want {
		t.Fatalf("kid %s, want the key's thumbprint %s", first, want)
	}
	k2, _, _ := keyFiles(t, dir, 0o600)
	if second, want := thumb(), must(jwtsign.Thumbprint(k2)); second != want || second == first {
		t.Fatalf("after replacing the key: kid %s, want %s (was %s)", second, want, first)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestCAFile: ca_file is read into the credential's RootCAs (any auth
// style) and a file without certificates is refused by name.
func TestCAFile(t *testing.T) {
	dir := t.TempDir()
	_, _, certPath := keyFiles(t, dir, 0o600)
	bad := filepath.Join(dir, "empty.pem")
	writeMode(t, bad, []byte("not a certificate\n"), 0o644)
	for _, tc := range []struct{ file, want string }{{certPath, ""}, {bad, "ca_file: " + bad + ": no PEM certificate found"}} {
		cfg, err := Decode([]byte(one(fmt.Sprintf("token_url = \"https://idp.example/token\"\nclient_id = \"id\"\nclient_secret = \"s\"\nca_file = %q", tc.file))))
		if err != nil {
			t.Fatal(err)
		}
		err = cfg.ResolveSecrets()
		if tc.want == "" {
			if err != nil || cfg.Credentials[0].RootCAs == nil || cfg.Credentials[0].GrantsConfig().RootCAs == nil {
				t.Errorf("ca_file %s: err = %v, pool set = %v", tc.file, err, cfg.Credentials[0].RootCAs != nil)
			}
		} else if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want %q", err, tc.want)
		}
	}
}
