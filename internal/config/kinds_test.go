package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/grants"
)

// joinedProblems splits a Decode error into its joined problems.
func joinedProblems(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

// TestEveryGrantKindConfigures walks the grant table: every configurable
// kind is accepted by validation and its credential builds a client; a
// bootstrap-only one is refused as a credential's grant.
func TestEveryGrantKindConfigures(t *testing.T) {
	for _, k := range grants.GrantKinds() {
		t.Run(string(k.Name), func(t *testing.T) {
			cfg, err := Decode([]byte(one(fmt.Sprintf(`grant = %q
token_url = "https://idp.example/token"
client_id = "id"
client_secret = "s"`, k.Name) + sampleGrantKeys[k.Name])))
			if !k.Configurable {
				want := fmt.Sprintf(`credential "c".grant: unknown grant %q (supported: %s)`, k.Name, strings.Join(grants.GrantNames(), ", "))
				if ps := joinedProblems(err); len(ps) != 1 || ps[0].Error() != want {
					t.Fatalf("err = %v, want only %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			cr := &cfg.Credentials[0]
			if cr.GrantKind().Name != k.Name {
				t.Errorf("GrantKind = %q", cr.GrantKind().Name)
			}
			if _, err := grants.New(cr.GrantsConfig()); err != nil {
				t.Errorf("grants.New: %v", err)
			}
		})
	}
}

// sampleGrantKeys are the minimal own keys of the grants that need some.
var sampleGrantKeys = map[grants.Grant]string{
	grants.GrantJWTBearer:     "\nprivate_key_file = \"/etc/tokend/k.pem\"",
	grants.GrantGitHubApp:     "\nprivate_key_file = \"/etc/tokend/k.pem\"\ninstallation_id = \"1\"",
	grants.GrantTokenExchange: "\nsubject_token_file = \"/var/run/secrets/tokens/k8s\"",
}

// TestEveryAuthMethodConfigures walks the auth-method table with the
// minimal config each method needs (its client_id and secret rules).
func TestEveryAuthMethodConfigures(t *testing.T) {
	for _, m := range grants.AuthMethods() {
		t.Run(string(m.Name), func(t *testing.T) {
			body := fmt.Sprintf("auth_style = %q\ntoken_url = \"https://idp.example/token\"\n", m.Name)
			body += authKeys(t, m.Name, t.TempDir()) // its own key files
			if m.NeedsClientID {
				body += "client_id = \"id\"\n"
			}
			secretLine := `client_secret = "s"`
			if m.Name == grants.AuthClientSecretJWT { // HS256: at least 32 bytes (RFC 7518 §3.2)
				secretLine = `client_secret = "ssssssssssssssssssssssssssssssss"`
			}
			switch m.Secret {
			case grants.SecretClientSecret:
				body += secretLine
			case grants.SecretAPIKey:
				body += `api_key = "a2V5"`
			case grants.SecretNone:
			default:
				t.Fatalf("secret kind %q has no config rule", m.Secret)
			}
			cfg, err := Decode([]byte(one(body)))
			if err != nil {
				t.Fatalf("Decode:\n%s\nerr = %v", body, err)
			}
			if err := cfg.ResolveSecrets(); err != nil {
				t.Fatal(err)
			}
			if _, err := grants.New(cfg.Credentials[0].GrantsConfig()); err != nil {
				t.Errorf("grants.New: %v", err)
			}
			// Without its secret the method is refused (a public client needs none).
			if m.Secret != grants.SecretNone {
				bare := strings.Replace(strings.Replace(body, secretLine, "", 1), `api_key = "a2V5"`, "", 1)
				if _, err := Decode([]byte(one(bare))); err == nil || !strings.Contains(err.Error(), "is required with auth_style") {
					t.Errorf("no secret: err = %v", err)
				}
			}
		})
	}
}

// TestUnknownKindIsOneProblem: an unknown grant or auth style is reported
// once, naming the known ones, and the rest of the credential is still checked.
func TestUnknownKindIsOneProblem(t *testing.T) {
	tests := []struct{ body, want string }{
		{`grant = "password"`, `credential "c".grant: unknown grant "password" (supported: ` + strings.Join(grants.GrantNames(), ", ") + ")"},
		{`auth_style = "jwt"`, `credential "c".auth_style: unknown auth style "jwt" (supported: ` + strings.Join(grants.AuthStyleNames(), ", ") + ")"},
	}
	for _, tc := range tests {
		_, err := Decode([]byte(one(tc.body + `
token_url = "http://idp.example/token"
client_id = "id"
client_secret = "s"`)))
		ps := joinedProblems(err)
		var kind, http int
		for _, p := range ps {
			if strings.Contains(p.Error(), "unknown") {
				kind++
				if p.Error() != tc.want {
					t.Errorf("problem %q, want %q", p, tc.want)
				}
			}
			if strings.Contains(p.Error(), "http://") {
				http++
			}
		}
		if kind != 1 || http != 1 || len(ps) != 2 {
			t.Errorf("%s: want the kind and the http:// token_url once each, got:\n%v", tc.body, err)
		}
	}
}

// TestKindKeysBelongToTheirKind: a key that only some kinds use is refused
// on a credential of another kind, with the message naming the users.
func TestKindKeysBelongToTheirKind(t *testing.T) {
	tests := []struct{ body, want string }{
		{`grant = "client_credentials"
client_id = "id"
client_secret = "s"
refresh_token_file = "/x"`, `credential "c".refresh_token_file: is only used with grant = "refresh_token"`},
		{`client_id = "id"
client_secret = "s"
send_grant_type = false`, `credential "c".send_grant_type: false is only possible with grant "client_credentials"`},
		{`client_id = "id"
api_key = "k"`, `credential "c".api_key: is only used with auth_style "basic_raw" (use client_secret for "basic")`},
	}
	for _, tc := range tests {
		_, err := Decode([]byte(one(tc.body + "\ntoken_url = \"https://idp.example/token\"")))
		if ps := joinedProblems(err); len(ps) != 1 || ps[0].Error() != tc.want {
			t.Errorf("config\n%s\nerr = %v\nwant only %q", tc.body, err, tc.want)
		}
	}
	// Every key a table lists has a config rule.
	for _, k := range grants.GrantKinds() {
		for _, key := range k.Keys {
			if _, ok := kindKeys[key]; !ok {
				t.Errorf("grant %s lists key %q that config does not know", k.Name, key)
			}
		}
	}
	for _, m := range grants.AuthMethods() {
		for _, key := range m.Keys {
			if _, ok := kindKeys[key]; !ok {
				t.Errorf("auth method %s lists key %q that config does not know", m.Name, key)
			}
		}
	}
}
