package grants

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/secret"
)

// registeredDN is the subject DN the strict mTLS server has on record for
// client-id (RFC 8705 §2.1.2: tls_client_auth_subject_dn).
const registeredDN = "CN=svc-mtls,O=tokend test"

// mtlsServer is a strict RFC 8705 §2.1 token endpoint: it requires a client
// certificate chaining to clientCA, and answers a token only when the
// certificate's subject is the DN registered for the body's client_id.
func mtlsServer(t *testing.T, clientCA *x509.Certificate) *httptest.Server {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(clientCA)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(b))
		w.Header().Set("Content-Type", "application/json")
		if form.Get("client_id") != "client-id" || len(r.TLS.PeerCertificates) == 0 ||
			r.TLS.PeerCertificates[0].Subject.String() != registeredDN || form.Has("client_secret") || r.Header.Get("Authorization") != "" {
			w.WriteHeader(401)
			_, _ = io.WriteString(w, `{"error":"invalid_client","error_description":"certificate does not match the registration"}`)
			return
		}
		_, _ = io.WriteString(w, okBody)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// TestTLSClientAuth: the certificate from client_cert_file/client_key_file
// is presented in the handshake and the server's is verified against
// ca_file; an unknown server CA (no ca_file), a certificate of an unknown
// CA or of another subject, and a method without a certificate all fail.
// The shared HTTP client the credential was given is left untouched.
func TestTLSClientAuth(t *testing.T) {
	caKey, leafKey := testKeys().rsa, testKeys().ec
	ca := selfSigned(t, caKey, "tokend test client CA", true, nil, nil)
	srv := mtlsServer(t, ca)
	dir := t.TempDir()
	caFile := writeFile(t, dir, "server-ca.pem", certPEM(srv.Certificate()), 0o644)
	roots, err := ParseCAFile(certPEM(srv.Certificate()))
	if err != nil || caFile == "" {
		t.Fatal(err)
	}
	keyFile := writeFile(t, dir, "svc.key", keyPEM(t, leafKey), 0o600)
	opts := func(cn string, signer *x509.Certificate) *TLSClientAuthOptions {
		leaf := selfSigned(t, leafKey, cn, false, signer, caKey)
		if signer == nil {
			leaf = selfSigned(t, leafKey, cn, false, nil, nil)
		}
		o := &TLSClientAuthOptions{ClientCertFile: writeFile(t, t.TempDir(), "svc.crt", certPEM(leaf), 0o644), ClientKeyFile: keyFile}
		if err := o.ResolveSecrets(readForTest); err != nil {
			t.Fatal(err)
		}
		return o
	}
	shared := NewHTTPClient(4)
	try := func(style AuthStyle, o Options, roots *x509.CertPool) error {
		c := newTestClient(t, srv.URL, func(cfg *Config) {
			cfg.AuthStyle, cfg.AuthOptions, cfg.RootCAs, cfg.HTTPClient = style, o, roots, shared
			if style == AuthTLSClient {
				cfg.ClientSecret = secret.Secret{}
			}
		})
		_, err := c.ClientCredentials(context.Background())
		return err
	}
	if err := try(AuthTLSClient, opts("svc-mtls", ca), roots); err != nil {
		t.Fatalf("registered certificate: %v", err)
	}
	for name, tc := range map[string]struct {
		err  error
		want string
	}{
		"no ca_file":            {try(AuthTLSClient, opts("svc-mtls", ca), nil), "certificate signed by unknown authority"},
		"unknown client CA":     {try(AuthTLSClient, opts("svc-mtls", nil), roots), "network"},
		"other subject":         {try(AuthTLSClient, opts("svc-other", ca), roots), "invalid_client"},
		"basic, no certificate": {try(AuthBasic, nil, roots), "tls: "},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, tc.err, tc.want)
		}
	}
	if tr := shared.Transport.(*http.Transport); tr.TLSClientConfig != nil && (tr.TLSClientConfig.RootCAs != nil || tr.TLSClientConfig.GetClientCertificate != nil) {
		t.Error("the shared client's transport was changed")
	}
}

// TestCAFileWithAnyAuthStyle: ca_file alone (client_secret_basic) makes a
// private CA's server trusted; the transport keeps the proxy from the
// environment (HTTPS_PROXY, NO_PROXY).
func TestCAFileWithAnyAuthStyle(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, ok := r.BasicAuth(); !ok {
			w.WriteHeader(401)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, okBody)
	}))
	t.Cleanup(srv.Close)
	roots, err := ParseCAFile(certPEM(srv.Certificate()))
	if err != nil {
		t.Fatal(err)
	}
	c := newTestClient(t, srv.URL, func(cfg *Config) { cfg.RootCAs = roots })
	if _, err := c.ClientCredentials(context.Background()); err != nil {
		t.Fatal(err)
	}
	tr := c.http.Transport.(*http.Transport)
	if tr.Proxy == nil || tr.TLSClientConfig.RootCAs != roots {
		t.Error("the per-credential transport lost the environment's proxy or the CA pool")
	}
	if _, err := ParseCAFile([]byte("no certificate here")); err == nil {
		t.Error("a file without certificates was accepted")
	}
}
