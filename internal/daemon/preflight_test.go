package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/vaulttest"
)

// TestPreflightChecksVaultWithoutWriting (issue 14 item 2): with [vault],
// Preflight logs in and runs the vault sinks' policy check as New does: a
// token whose policy does not allow the writes is refused, naming the
// sink; one that does passes; nothing is written to Vault or to disk.
func TestPreflightChecksVaultWithoutWriting(t *testing.T) {
	srv := vaulttest.Start(t)
	dir := t.TempDir()
	srv.Policy("read-only", `path "secret/*" { capabilities = ["read"] }`)
	weak := filepath.Join(dir, "weak-token")
	root := filepath.Join(dir, "root-token")
	write(t, weak, srv.Token([]string{"read-only"}, nil))
	write(t, root, srv.RootToken)
	doc := func(tokenFile string) *config.Config {
		cfg, err := config.Decode([]byte(fmt.Sprintf(`
[state]
dir = %q

[vault]
address = %q
token_file = %q

[[credential]]
name = "app"
token_url = "http://127.0.0.1:1/token"
client_id = "c"
client_secret = "s"

  [[credential.sink]]
  type = "file"
  path = %q

  [[credential.sink]]
  type = "vault"
  path = "tokend/app"
`, filepath.Join(dir, "state"), srv.Addr, tokenFile, filepath.Join(dir, "app.token"))))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	err := Preflight(context.Background(), doc(weak), zap.NewNop())
	if err == nil || !strings.Contains(err.Error(), `credential "app": sink[2]: `) || !strings.Contains(err.Error(), "policy") {
		t.Fatalf("a token that may not write: %v", err)
	}
	if err := Preflight(context.Background(), doc(root), zap.NewNop()); err != nil {
		t.Fatalf("a token that may write: %v", err)
	}
	if sec, err := srv.Client().KVv2("secret").Get(context.Background(), "tokend/app"); err == nil || sec != nil {
		t.Errorf("Preflight wrote to Vault: %v", sec)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 { // the two token files
		t.Errorf("Preflight left files: %v", entries)
	}
}

// TestBuildErrorsNameTheCredentialOnce (issue 14 item 3): a token-endpoint
// config that grants.New refuses (here one discovery could have produced)
// is reported with the credential named once, not twice.
func TestBuildErrorsNameTheCredentialOnce(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Decode([]byte(fmt.Sprintf(`
[[credential]]
name = "svc"
token_url = "https://idp.example/token"
client_id = "c"
client_secret = "s"
  [[credential.sink]]
  type = "file"
  path = %q
`, filepath.Join(dir, "svc.token"))))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Credentials[0].TokenURL = "ftp://idp.example/token"
	_, err = BuildCredentials(cfg)
	if err == nil || strings.Count(err.Error(), `credential "svc"`) != 1 || !strings.HasPrefix(err.Error(), `credential "svc": `) {
		t.Fatalf("err = %v", err)
	}
}
