package config

import (
	"strings"
	"testing"

	vaultsink "github.com/tokend/tokend/internal/sinks/vault"
)

const vaultBase = `
[[credential]]
name = "api"
token_url = "https://auth.example/token"
client_id = "c"
client_secret_env = "X"
`

func TestVaultConfigDefaults(t *testing.T) {
	cfg, err := Decode([]byte(`
[vault]
address = "https://vault.example:8200"
auth = "kubernetes"
role = "tokend"

[state]
backend = "vault"
` + vaultBase + `
  [[credential.sink]]
  type = "vault"
  path = "tokend/api"
  fields = { access_token = "token" }
`))
	if err != nil {
		t.Fatal(err)
	}
	v := cfg.Vault
	if v.Mount != "kubernetes" || v.JWTPath != DefaultKubernetesJWT {
		t.Fatalf("kubernetes defaults: mount %q jwt %q", v.Mount, v.JWTPath)
	}
	if cfg.State.Mount != "secret" || cfg.State.Prefix != "tokend/state" {
		t.Fatalf("state defaults: %q %q", cfg.State.Mount, cfg.State.Prefix)
	}
	s := cfg.Credentials[0].Sinks[0].Options.(*vaultsink.Config)
	if s.Mount != "secret" || s.KVVersion != 2 {
		t.Fatalf("sink defaults: %q %d", s.Mount, s.KVVersion)
	}
	f := s.FieldNames()
	if f["access_token"] != "token" || f["expires_at"] != "expires_at" || f["scope"] != "scope" || f["token_type"] != "token_type" {
		t.Fatalf("field names: %v", f)
	}
}

func TestVaultConfigProblems(t *testing.T) {
	cases := []struct {
		name, toml string
		want       []string
	}{
		{"vault sink without [vault]", vaultBase + `
  [[credential.sink]]
  type = "vault"
  path = "x"
`, []string{"vault: a [vault] table is required"}},
		{"approle without ids", `
[vault]
auth = "approle"
token_file = "/t"
` + vaultBase + `
  [[credential.sink]]
  type = "file"
  path = "/run/x"
`, []string{"vault.role_id: set exactly one", "vault.secret_id_file: is required", "vault.token_file: is only used"}},
		{"bad auth and address", `
[vault]
auth = "ldap"
address = "vault:8200"
` + vaultBase + `
  [[credential.sink]]
  type = "file"
  path = "/run/x"
`, []string{`vault.auth: unknown auth method "ldap"`, "vault.address"}},
		{"kubernetes without role", `
[vault]
auth = "kubernetes"
` + vaultBase + `
  [[credential.sink]]
  type = "file"
  path = "/run/x"
`, []string{"vault.role: is required"}},
		{"bad sink keys", `
[vault]
` + vaultBase + `
  [[credential.sink]]
  type = "vault"
  path = "/abs/"
  kv_version = 3
  format = "json"
  fields = { access_token = "t", scope = "t", bogus = "b" }
`, []string{"sink[0].path", "sink[0].kv_version: must be 1 or 2", "sink[0].format", `unknown field "bogus"`, `both write "t"`}},
		{"state mount without vault backend", `
[state]
mount = "secret"
` + vaultBase + `
  [[credential.sink]]
  type = "file"
  path = "/run/x"
`, []string{"state.mount: mount and prefix are only used"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.toml))
			if err == nil {
				t.Fatal("config accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestVaultSkipVerifyWarns(t *testing.T) {
	cfg, err := Decode([]byte(`
[vault]
address = "https://v:8200"
tls_skip_verify = true
` + vaultBase + `
  [[credential.sink]]
  type = "vault"
  path = "tokend/api"
  kv_version = 1
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], "tls_skip_verify") {
		t.Fatalf("warnings: %v", cfg.Warnings)
	}
}

func TestVaultJWTAuthConfig(t *testing.T) {
	sink := vaultBase + `
  [[credential.sink]]
  type = "file"
  path = "/run/x"
`
	cfg, err := Decode([]byte("[vault]\nauth = \"jwt\"\nrole = \"tokend\"\njwt_path = \"/var/run/secrets/tokens/vault\"\n" + sink))
	if err != nil {
		t.Fatal(err)
	}
	if v := cfg.Vault; v.Mount != "jwt" || v.JWTPath != "/var/run/secrets/tokens/vault" {
		t.Fatalf("jwt defaults: mount %q jwt_path %q", v.Mount, v.JWTPath)
	}
	cfg, err = Decode([]byte("[vault]\nauth = \"jwt\"\nrole = \"tokend\"\nmount = \"jwt-k8s\"\n" + sink))
	if err != nil || cfg.Vault.Mount != "jwt-k8s" || cfg.Vault.JWTPath != DefaultKubernetesJWT {
		t.Fatalf("jwt with mount: %v %+v", err, cfg.Vault)
	}
	_, err = Decode([]byte("[vault]\nauth = \"jwt\"\nsecret_id_file = \"/s\"\n" + sink))
	if err == nil || !strings.Contains(err.Error(), `vault.role: is required with auth = "jwt"`) || !strings.Contains(err.Error(), "vault.role_id: is only used with auth = \"approle\"") {
		t.Fatalf("jwt without role: %v", err)
	}
}
