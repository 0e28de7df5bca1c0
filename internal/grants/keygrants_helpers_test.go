package grants

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokend/tokend/internal/secret"
)

// testRSAKey is one 2048-bit key for the whole package's tests (generating
// one costs ~100 ms).
var testRSAKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// writeKeyPEM writes key as PKCS#8 PEM to a 0600 file in t's temp dir.
func writeKeyPEM(t *testing.T, key crypto.Signer) (path string, pemText string) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pemText = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	path = filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, []byte(pemText), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, pemText
}

// readTestSecret is config.ReadSecretFile's contract for the options' ResolveSecrets.
func readTestSecret(path string) (secret.Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return secret.Secret{}, err
	}
	return secret.New(string(b)), nil
}

// resolve runs o's Defaults, Validate (failing t on a problem) and ResolveSecrets.
func resolve(t *testing.T, o SecretOptions) {
	t.Helper()
	o.Defaults()
	o.Validate(func(field, format string, args ...any) {
		t.Fatalf("option %s: "+format, append([]any{field}, args...)...)
	})
	if err := o.ResolveSecrets(readTestSecret); err != nil {
		t.Fatal(err)
	}
}

// sampleOptions gives cfg the minimal own keys of its grant, for the walks
// over the table (TestEveryGrantKindRenews).
func sampleOptions(t *testing.T, cfg *Config) {
	t.Helper()
	switch cfg.Grant {
	case GrantJWTBearer:
		path, _ := writeKeyPEM(t, testRSAKey())
		o := &JWTBearerOptions{KeyOptions: KeyOptions{PrivateKeyFile: path}, ScopesIn: ScopesInBody}
		resolve(t, o)
		cfg.GrantOptions = o
	case GrantGitHubApp:
		path, _ := writeKeyPEM(t, testRSAKey())
		o := &GitHubAppOptions{KeyOptions: KeyOptions{PrivateKeyFile: path}, AppID: "42", InstallationID: "7"}
		resolve(t, o)
		cfg.GrantOptions, cfg.AuthStyle, cfg.Scopes = o, AuthNone, nil
	case GrantTokenExchange:
		path := filepath.Join(t.TempDir(), "subject")
		if err := os.WriteFile(path, []byte("subject-token-value\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		o := &TokenExchangeOptions{SubjectTokenFile: path}
		resolve(t, o)
		cfg.GrantOptions = o
	}
}

// sampleAnswer is a success answer of a grant with its own wire format.
func sampleAnswer(g Grant) string {
	if g == GrantGitHubApp {
		return `{"token":"ghs_sampletoken","expires_at":"` + testNow.Add(time.Hour).Format(time.RFC3339) + `"}`
	}
	return okBody
}

// verifyJWT checks raw's signature with pub (alg as given) and returns
// its header and claims.
func verifyJWT(t *testing.T, raw string, pub crypto.PublicKey, alg jose.SignatureAlgorithm) (jose.Header, map[string]any) {
	t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{alg})
	if err != nil {
		t.Fatalf("parse JWT: %v", err)
	}
	var claims map[string]any
	if err := tok.Claims(pub, &claims); err != nil {
		t.Fatalf("JWT signature: %v", err)
	}
	return tok.Headers[0], claims
}

// serviceAccountJSON is a Google service-account key as Google hands it
// out, for key and tokenURI.
func serviceAccountJSON(t *testing.T, key *rsa.PrivateKey, keyID, tokenURI string) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(map[string]string{
		"type":                        "service_account",
		"project_id":                  "tokend-test",
		"private_key_id":              keyID,
		"private_key":                 string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":                "robot@tokend-test.iam.gserviceaccount.com",
		"client_id":                   "104242424242424242424",
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   tokenURI,
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"client_x509_cert_url":        "https://www.googleapis.com/robot/v1/metadata/x509/robot%40tokend-test.iam.gserviceaccount.com",
		"universe_domain":             "googleapis.com",
	}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
