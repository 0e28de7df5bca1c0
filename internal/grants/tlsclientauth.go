package grants

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/tokend/tokend/internal/secret"
)

// TLSClientAuthOptions are tls_client_auth's keys (RFC 8705 §2.1): the
// client authenticates with a certificate in the TLS handshake, which the
// server checks against the client's registered subject (or the
// certificate itself); the request carries only client_id.
type TLSClientAuthOptions struct {
	// ClientCertFile is the client's PEM certificate chain (`client_cert_file`).
	ClientCertFile string `toml:"client_cert_file"`
	// ClientKeyFile is its PEM private key (`client_key_file`); the mode is
	// checked like private_key_file's (CheckKeyFileMode).
	ClientKeyFile string `toml:"client_key_file"`

	cert *tls.Certificate // read by ResolveSecrets; nil until then
}

// Defaults implements Options: nothing to fill.
func (*TLSClientAuthOptions) Defaults() {}

// Validate implements Options: both files are required.
func (o *TLSClientAuthOptions) Validate(bad func(field, format string, args ...any)) {
	if o.ClientCertFile == "" {
		bad("client_cert_file", "is required with auth_style \"tls_client_auth\"")
	}
	if o.ClientKeyFile == "" {
		bad("client_key_file", "is required with auth_style \"tls_client_auth\"")
	}
}

// ResolveSecrets implements SecretOptions: it reads the certificate and the
// key (refusing a key file others can read) and checks that they belong
// together. A reload reads them again.
func (o *TLSClientAuthOptions) ResolveSecrets(read func(string) (secret.Secret, error)) error {
	if err := CheckKeyFileMode("client_key_file", o.ClientKeyFile); err != nil {
		return err
	}
	certPEM, err := read(o.ClientCertFile)
	if err != nil {
		return fmt.Errorf("client_cert_file: %w", err)
	}
	keyPEM, err := read(o.ClientKeyFile)
	if err != nil {
		return fmt.Errorf("client_key_file: %w", err)
	}
	c, err := tls.X509KeyPair([]byte(certPEM.Reveal()), []byte(keyPEM.Reveal()))
	if err != nil {
		// crypto/tls's messages describe the PEM blocks and the mismatch,
		// never key bytes.
		return fmt.Errorf("client_cert_file %s and client_key_file %s: %w", o.ClientCertFile, o.ClientKeyFile, err)
	}
	o.cert = &c
	return nil
}

// Loaded reports whether ResolveSecrets has read the certificate and key.
func (o *TLSClientAuthOptions) Loaded() bool { return o != nil && o.cert != nil }

// tlsClientCertificate is tls_client_auth's AuthMethod.ClientCertificate.
func tlsClientCertificate(cfg *Config) *tls.Certificate {
	if o, ok := cfg.AuthOptions.(*TLSClientAuthOptions); ok {
		return o.cert
	}
	return nil
}

// applyTLSClientAuth sends client_id (RFC 8705 §2: required, so the server
// knows which registration the certificate must match). The certificate
// itself is presented by the HTTP client New built.
func applyTLSClientAuth(cfg *Config, v url.Values, _ http.Header) *Error {
	if tlsClientCertificate(cfg) == nil {
		return &Error{Code: CodeInvalidConfig, Class: ClassPermanent,
			Description: "auth style tls_client_auth needs client_cert_file and client_key_file that have been read"}
	}
	return applyNone(cfg, v, nil)
}

// ParseCAFile reads a PEM bundle of CA certificates (ca_file) into a pool
// that replaces the system roots for one credential's endpoints.
func ParseCAFile(pemBytes []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, errors.New("no PEM certificate found")
	}
	return pool, nil
}

// withTLS returns base, or, when the credential trusts its own CAs
// (Config.RootCAs) or presents a client certificate, a client of its own: a
// copy of base with a clone of its transport (same proxy from the
// environment, timeouts and pool sizes) whose TLS config carries them. The
// copy pools its connections apart from the shared client, which is what
// keeps one credential's certificate off another's connections.
func withTLS(base *http.Client, roots *x509.CertPool, cert *tls.Certificate) (*http.Client, error) {
	if roots == nil && cert == nil {
		return base, nil
	}
	var tr *http.Transport
	switch t := base.Transport.(type) {
	case nil:
		tr = http.DefaultTransport.(*http.Transport).Clone()
	case *http.Transport:
		tr = t.Clone()
	default:
		return nil, fmt.Errorf("ca_file and tls_client_auth need an *http.Transport, not %T", base.Transport)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if tr.TLSClientConfig != nil {
		tc = tr.TLSClientConfig.Clone()
	}
	if roots != nil {
		tc.RootCAs = roots
	}
	if cert != nil {
		// Always present it: the server decides (Certificates would be
		// withheld when the server's acceptable-CA list misses its issuer).
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	tr.TLSClientConfig = tc
	c := *base
	c.Transport = tr
	return &c, nil
}
