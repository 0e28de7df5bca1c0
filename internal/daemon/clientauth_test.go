package daemon

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/secret"
)

// TestBuildGivesMTLSCredentialItsOwnTransport: credentials built together
// share one HTTP client, except one with tls_client_auth (and ca_file),
// which presents its certificate to an mTLS token endpoint; a credential
// of the same build without it reaches the same server without a
// certificate and is refused in the handshake.
func TestBuildGivesMTLSCredentialItsOwnTransport(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "svc-mtls"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	write := func(name string, b []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	certFile := write("svc.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	keyFile := write("svc.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)

	pool := x509.NewCertPool()
	pool.AddCert(cert)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"at-mtls","token_type":"Bearer","expires_in":3600}`)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	caFile := write("server-ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644)

	cred := func(name, extra string) string {
		return fmt.Sprintf(`
[[credential]]
name = %q
grant = "client_credentials"
token_url = %q
client_id = "svc"
ca_file = %q
%s
  [[credential.sink]]
  type = "file"
  path = %q
`, name, srv.URL+"/token", caFile, extra, filepath.Join(dir, name+".token"))
	}
	cfgPath := write("tokend.toml", []byte(fmt.Sprintf("[state]\ndir = %q\n", filepath.Join(dir, "state"))+
		cred("mtls", fmt.Sprintf("auth_style = \"tls_client_auth\"\nclient_cert_file = %q\nclient_key_file = %q", certFile, keyFile))+
		cred("plain", "client_secret = \"s\"")), 0o600)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.ResolveSecrets(); err != nil {
		t.Fatal(err)
	}
	creds, err := BuildCredentials(cfg)
	if err != nil || len(creds) != 2 {
		t.Fatalf("build: %d credentials, %v", len(creds), err)
	}
	tok, err := creds[0].Source.Renew(context.Background(), secret.Secret{})
	if err != nil || tok.AccessToken.Reveal() != "at-mtls" {
		t.Fatalf("mtls credential: %v", err)
	}
	if _, err := creds[1].Source.Renew(context.Background(), secret.Secret{}); err == nil {
		t.Fatal("a credential without the certificate got through: the certificate leaked onto the shared transport")
	}
}
