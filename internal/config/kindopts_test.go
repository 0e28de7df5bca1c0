package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/secret"
)

// TestGrantOptionsDecode: a grant kind's own key is decoded into its
// options (refresh_token_file into the refresh_token grant's), which reach
// the grants.Config and the daemon's seeding; a credential that does not set
// it still gets its kind's options, and one whose kind has none gets nil.
func TestGrantOptionsDecode(t *testing.T) {
	cfg, err := Decode([]byte(`[[credential]]
name = "a"
token_url = "https://idp.example/token"
client_id = "id"
client_secret = "s"
refresh_token_file = "/etc/tokend/a.rt"
  [[credential.sink]]
  type = "file"
  path = "/run/tokend/a.token"
[[credential]]
name = "b"
token_url = "https://idp.example/token"
client_id = "id"
client_secret = "s"
  [[credential.sink]]
  type = "file"
  path = "/run/tokend/b.token"
[[credential]]
name = "c"
grant = "client_credentials"
token_url = "https://idp.example/token"
client_id = "id"
client_secret = "s"
  [[credential.sink]]
  type = "file"
  path = "/run/tokend/c.token"
`))
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := &cfg.Credentials[0], &cfg.Credentials[1], &cfg.Credentials[2]
	if o, ok := a.GrantOptions.(*grants.RefreshTokenOptions); !ok || o.RefreshTokenFile != "/etc/tokend/a.rt" {
		t.Errorf("a: GrantOptions = %#v", a.GrantOptions)
	}
	if a.SeedFile() != "/etc/tokend/a.rt" || a.GrantsConfig().GrantOptions != a.GrantOptions {
		t.Errorf("a: SeedFile %q, grants config options %v", a.SeedFile(), a.GrantsConfig().GrantOptions)
	}
	if o, ok := b.GrantOptions.(*grants.RefreshTokenOptions); !ok || o.RefreshTokenFile != "" || b.SeedFile() != "" {
		t.Errorf("b: GrantOptions = %#v, SeedFile %q", b.GrantOptions, b.SeedFile())
	}
	if c.GrantOptions != nil || c.AuthOptions != nil || c.SeedFile() != "" {
		t.Errorf("c: options %#v %#v", c.GrantOptions, c.AuthOptions)
	}
}

// TestOptionKeysPerTable: a kind's key is judged per [[credential]] table:
// the credential whose grant uses it decodes it, another one in the same
// document is told which grant uses it; a credential with an unknown grant
// hears only about its grant; a key no kind knows stays an unknown key with
// its line.
func TestOptionKeysPerTable(t *testing.T) {
	doc := `[[credential]]
name = "rt"
token_url = "https://idp.example/token"
client_id = "id"
client_secret = "s"
refresh_token_file = "/x"
  [[credential.sink]]
  type = "file"
  path = "/run/tokend/rt.token"
[[credential]]
name = "cc"
grant = "client_credentials"
token_url = "https://idp.example/token"
client_id = "id"
client_secret = "s"
refresh_token_file = "/y"
  [[credential.sink]]
  type = "file"
  path = "/run/tokend/cc.token"
[[credential]]
name = "odd"
grant = "device_code"
token_url = "https://idp.example/token"
client_id = "id"
client_secret = "s"
refresh_token_file = "/z"
  [[credential.sink]]
  type = "file"
  path = "/run/tokend/odd.token"
[[credential]]
name = "typo"
token_url = "https://idp.example/token"
client_id = "id"
client_secret = "s"
refresh_token_fil = "/w"
  [[credential.sink]]
  type = "file"
  path = "/run/tokend/typo.token"
`
	_, err := Decode([]byte(doc))
	want := []string{
		`credential.refresh_token_fil: unknown key (line 35)`,
		`credential "cc".refresh_token_file: is only used with grant = "refresh_token"`,
		`credential "odd".grant: unknown grant "device_code" (supported: ` + strings.Join(grants.GrantNames(), ", ") + `)`,
	}
	ps := joinedProblems(err)
	if len(ps) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(want), err)
	}
	for i, p := range ps {
		if p.Error() != want[i] {
			t.Errorf("problem %d = %q, want %q", i, p, want[i])
		}
	}
}

// TestOptionsBadValue: a value of the wrong type for a kind's key is one
// problem naming the credential and the key, not a failure of the document.
func TestOptionsBadValue(t *testing.T) {
	_, err := Decode([]byte(one(`token_url = "https://idp.example/token"
client_id = "id"
client_secret = "s"
refresh_token_file = 7`)))
	ps := joinedProblems(err)
	if len(ps) != 1 || !strings.HasPrefix(ps[0].Error(), `credential "c": `) || !strings.Contains(ps[0].Error(), "refresh_token_file") {
		t.Errorf("err = %v", err)
	}
}

// fileKeyOptions is a test-only kind's options with a secret file key, as
// private_key_jwt's private_key_file will be.
type fileKeyOptions struct {
	KeyFile string        `toml:"key_file"`
	Key     secret.Secret `toml:"-"`
}

func (*fileKeyOptions) Defaults()                                        {}
func (*fileKeyOptions) Validate(func(field, format string, args ...any)) {}
func (o *fileKeyOptions) ResolveSecrets(read func(string) (secret.Secret, error)) (err error) {
	o.Key, err = read(o.KeyFile)
	if err != nil {
		return errors.New("key_file: " + err.Error())
	}
	return nil
}

// TestResolveSecretsReadsOptionSecrets: ResolveSecrets reads the secret
// files that a kind's options declare (grants.SecretOptions) with the rules
// of client_secret_file, and a failure names the credential and the file,
// never a value.
func TestResolveSecretsReadsOptionSecrets(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(good, []byte("key-material\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok, missing := &fileKeyOptions{KeyFile: good}, &fileKeyOptions{KeyFile: filepath.Join(dir, "nope.pem")}
	cfg := &Config{Credentials: []Credential{
		{Name: "a", ClientSecret: "s", AuthOptions: ok},
		{Name: "b", ClientSecret: "s", GrantOptions: missing},
	}}
	err := cfg.ResolveSecrets()
	if ok.Key.Reveal() != "key-material" {
		t.Errorf("key read as %d bytes", len(ok.Key.Reveal()))
	}
	if err == nil || !strings.Contains(err.Error(), `credential "b": key_file: `) || !strings.Contains(err.Error(), "nope.pem") ||
		strings.Contains(err.Error(), "key-material") || strings.Contains(err.Error(), `credential "a"`) {
		t.Errorf("err = %v", err)
	}
	if cfg.Credentials[0].Secret.Reveal() != "s" {
		t.Error("client secret not resolved alongside the options' secrets")
	}
}
