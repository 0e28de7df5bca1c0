package daemon

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/sinks"
	"github.com/tokend/tokend/internal/sinks/kinds"
	"github.com/tokend/tokend/internal/vaultclient"
	"github.com/tokend/tokend/internal/vaulttest"
)

// sinkSamples is a minimal [[credential.sink]] body of each sink kind
// (%s: a directory for files). A kind added to the table needs one here.
var sinkSamples = map[string]string{
	"file":     "path = %q",
	"envfile":  "path = %q\n  var = \"APP_TOKEN\"",
	"vault":    "path = \"tokend/app\"",
	"template": "path = %q\n  template = \"machine api.example.com login oauth password {{ .AccessToken }}\\n\"",
}

// TestEverySinkKindValidatesAndBuilds: every kind in the sink table is
// accepted by config validation in a minimal config, builds through the
// daemon (with its start-up check) and takes a write.
func TestEverySinkKindValidatesAndBuilds(t *testing.T) {
	srv := vaulttest.Start(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "vault-token")
	write(t, tokenFile, srv.RootToken)
	vc, err := vaultclient.New(context.Background(), vaultclient.Config{Address: srv.Addr, Auth: "token", TokenFile: tokenFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range kinds.All() {
		t.Run(k.Name, func(t *testing.T) {
			sample, ok := sinkSamples[k.Name]
			if !ok {
				t.Fatalf("no sample [[credential.sink]] for kind %q in sinkSamples", k.Name)
			}
			if k.File != kinds.NoFile {
				sample = fmt.Sprintf(sample, filepath.Join(dir, k.Name+".out"))
			}
			doc := fmt.Sprintf(`
[vault]
address = %q
token_file = %q

[[credential]]
name = "app"
token_url = "http://127.0.0.1:1/token"
client_id = "c"
client_secret = "s"

  [[credential.sink]]
  type = %q
  %s
`, srv.Addr, tokenFile, k.Name, sample)
			cfg, err := config.Decode([]byte(doc))
			if err != nil {
				t.Fatalf("a minimal %s sink does not validate:\n%v\n%s", k.Name, err, doc)
			}
			creds, err := buildCredentials(cfg, hookWiring{vault: vc})
			if err != nil || len(creds) != 1 || len(creds[0].Sinks) != 1 {
				t.Fatalf("building: %v", err)
			}
			tok := sinks.Token{Credential: "app", AccessToken: secret.New("at-1"), TokenType: "Bearer",
				ExpiresAt: time.Now().Add(time.Hour), Generation: 1}
			if err := creds[0].Sinks[0].Write(context.Background(), tok); err != nil {
				t.Fatalf("writing through the %s sink: %v", k.Name, err)
			}
		})
	}
}

// TestVaultSinksStartInAFewRequests: the daemon's build asks the Vault sink
// kind to prepare (internal/sinks/vault Prepare) before building, so N
// Vault sinks start with one request per mount and one capabilities
// request, not two requests each in series.
func TestVaultSinksStartInAFewRequests(t *testing.T) {
	srv := vaulttest.Start(t)
	addr, cnt := srv.CountingProxy()
	vc := srv.TokendClientAt(addr, srv.RootToken)
	const n = 300
	var doc strings.Builder
	for i := range n {
		fmt.Fprintf(&doc, "[[credential]]\nname = \"c%d\"\ntoken_url = \"http://127.0.0.1:1/token\"\nclient_id = \"c\"\nclient_secret = \"s\"\n"+
			"  [[credential.sink]]\n  type = \"vault\"\n  path = \"tokend/c%d\"\n", i, i)
	}
	cfg, err := config.Decode([]byte("[vault]\naddress = \"" + addr + "\"\n" + doc.String()))
	if err != nil {
		t.Fatal(err)
	}
	cnt.Take()
	creds, err := buildCredentials(cfg, hookWiring{vault: vc})
	if err != nil || len(creds) != n {
		t.Fatalf("building %d credentials: %v", len(creds), err)
	}
	if got := cnt.Take(); len(got) != 2 {
		t.Fatalf("%d Vault requests to start %d sinks, want 2 (mount + capabilities): %v", len(got), n, got)
	}
}
