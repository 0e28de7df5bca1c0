package config

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/grants"
)

// writeServiceAccount writes a Google-shaped service-account key with
// token_uri and returns its path.
func writeServiceAccount(t *testing.T, tokenURI string) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	b, _ := json.Marshal(map[string]string{"type": "service_account", "client_email": "robot@p.iam.gserviceaccount.com",
		"private_key_id": "kid1", "private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"token_uri": tokenURI})
	path := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestServiceAccountConfigAsIssued: the shape — grant, key file,
// scopes; no token_url, client_id or auth_style — validates, and once the
// key is read the token URL is its token_uri.
func TestServiceAccountConfigAsIssued(t *testing.T) {
	path := writeServiceAccount(t, "https://oauth2.example.com/token")
	for _, head := range []string{`grant = "jwt_bearer"`, `provider = "google-service-account"`} {
		cfg, err := Decode([]byte(one(head + "\nservice_account_file = \"" + path + "\"\nscopes = [\"https://www.googleapis.com/auth/cloud-platform\"]")))
		if err != nil {
			t.Fatalf("%s: %v", head, err)
		}
		cr := &cfg.Credentials[0]
		if cr.AuthStyle != "none" || cr.Grant != "jwt_bearer" || cr.ProviderKey() != "https://oauth2.googleapis.com:443" {
			t.Errorf("%s: auth %q grant %q provider %q", head, cr.AuthStyle, cr.Grant, cr.ProviderKey())
		}
		if err := cfg.ResolveSecrets(); err != nil {
			t.Fatal(err)
		}
		c, err := grants.New(cr.GrantsConfig())
		if err != nil || c.Config().TokenURL != "https://oauth2.example.com/token" {
			t.Errorf("%s: client %v, token URL %q", head, err, c.Config().TokenURL)
		}
	}
}

// TestGitHubAppConfig: app_id, installation_id and a GHE api_url give the
// installation endpoint (and its provider key) without a token_url.
func TestGitHubAppConfig(t *testing.T) {
	cfg, err := Decode([]byte(one(`provider = "github-app"
app_id = "123456"
private_key_file = "/etc/tokend/gh-app.pem"
installation_id = "7890"
api_url = "https://ghe.example.com/api/v3"
repositories = ["infra"]
permissions = { contents = "read" }`)))
	if err != nil {
		t.Fatal(err)
	}
	cr := &cfg.Credentials[0]
	o, ok := cr.GrantOptions.(*grants.GitHubAppOptions)
	if !ok || o.PrivateKeyFile != "/etc/tokend/gh-app.pem" || o.Permissions["contents"] != "read" || o.Repositories[0] != "infra" {
		t.Fatalf("options %#v", cr.GrantOptions)
	}
	if cr.ProviderKey() != "https://ghe.example.com:443" {
		t.Errorf("provider key %q", cr.ProviderKey())
	}
	if err := grants.Validate(cr.GrantsConfig()); err != nil {
		t.Error(err)
	}
}

// TestKeyGrantProblems: the key-signing grants' keys are refused elsewhere,
// a missing subject credential or a cycle is named, and a signing grant
// with a client auth needing a client_id still needs one.
func TestKeyGrantProblems(t *testing.T) {
	tests := []struct{ body, want string }{
		{`grant = "client_credentials"
token_url = "https://idp.example/token"
client_id = "id"
client_secret = "s"
private_key_file = "/k.pem"`, `credential "c".private_key_file: is only used with grant = "jwt_bearer" or "github_app", or auth_style = "private_key_jwt"`},
		{`grant = "token_exchange"
token_url = "https://idp.example/token"
auth_style = "none"
client_id = "id"
subject_credential = "nope"`, `credential "c".subject_credential: no credential is called "nope"`},
		{`grant = "token_exchange"
token_url = "https://idp.example/token"
auth_style = "none"
client_id = "id"
subject_credential = "c"`, `credential "c".subject_credential: the credentials depend on each other in a cycle (c -> c)`},
		{`grant = "jwt_bearer"
token_url = "https://idp.example/token"
auth_style = "post"
client_secret = "s"
assertion_issuer = "svc"
private_key_file = "/k.pem"`, `credential "c".client_id: is required`},
		{`grant = "github_app"
private_key_file = "/k.pem"
installation_id = "x7"
app_id = "1"`, `credential "c".installation_id: is required: the installation's numeric id`},
	}
	for _, tc := range tests {
		_, err := Decode([]byte(one(tc.body)))
		if ps := joinedProblems(err); len(ps) != 1 || ps[0].Error() != tc.want {
			t.Errorf("config\n%s\nerr = %v\nwant only %q", tc.body, err, tc.want)
		}
	}
	// A longer cycle is reported on each credential in it.
	doc := ""
	for _, p := range [][2]string{{"a", "b"}, {"b", "a"}} {
		doc += `[[credential]]
name = "` + p[0] + `"
grant = "token_exchange"
token_url = "https://idp.example/token"
auth_style = "none"
client_id = "id"
subject_credential = "` + p[1] + `"
  [[credential.sink]]
  type = "file"
  path = "/run/tokend/` + p[0] + `.token"
`
	}
	_, err := Decode([]byte("[state]\ndir = \"/tmp/x\"\n" + doc))
	if err == nil || !strings.Contains(err.Error(), "(a -> b -> a)") || !strings.Contains(err.Error(), "(b -> a -> b)") {
		t.Errorf("cycle: %v", err)
	}
}

// TestLooseKeyFileWarns: a key file readable by group or others is named
// in the config's warnings; a 0600 one is not.
func TestLooseKeyFileWarns(t *testing.T) {
	dir := t.TempDir()
	loose, tight := filepath.Join(dir, "loose.pem"), filepath.Join(dir, "tight.json")
	if err := os.WriteFile(loose, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tight, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "tokend.toml")
	body := one(`grant = "github_app"
app_id = "1"
installation_id = "2"
private_key_file = "` + loose + `"`)
	body += `
[[credential]]
name = "gcp"
provider = "google-service-account"
service_account_file = "` + tight + `"
  [[credential.sink]]
  type = "file"
  path = "/run/tokend/gcp.token"
`
	if err := os.WriteFile(cfgPath, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	want := `credential "c": ` + loose + ` is readable by group/other (mode 0644); chmod 600 it`
	if len(cfg.Warnings) != 1 || cfg.Warnings[0] != want {
		t.Errorf("warnings %q, want only %q", cfg.Warnings, want)
	}
}
