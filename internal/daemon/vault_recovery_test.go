package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/syncbuf"
	"github.com/tokend/tokend/internal/testkit"
	"github.com/tokend/tokend/internal/vaulttest"
)

// TestVaultStoreRecoversWithinSecondsOfUnseal: tokend keeps its state in the
// real Vault server, which is sealed for 45 s while the 3 s access tokens
// expire. Within 10 s of the unseal every sink holds a token the provider
// accepts again (issue 16 item 7: the storage backoff grew unbounded once the
// token had expired, 55.7 s measured), and no refresh token was reused.
func TestVaultStoreRecoversWithinSecondsOfUnseal(t *testing.T) {
	const (
		creds  = 4
		ttl    = 3 * time.Second
		sealed = 45 * time.Second
	)
	srv := vaulttest.Start(t)
	dir := t.TempDir()
	p, base := startProvider(t, ttl, "app", "app-secret-value")
	tokenFile := filepath.Join(dir, "vault-token")
	write(t, tokenFile, srv.RootToken)
	write(t, filepath.Join(dir, "secret"), "app-secret-value")
	sinks := filepath.Join(dir, "sinks")
	if err := os.Mkdir(sinks, 0o700); err != nil {
		t.Fatal(err)
	}
	toml := fmt.Sprintf(`
[vault]
address = %q
token_file = %q
[state]
backend = "vault"
prefix = "tokend/recovery"
[scheduler]
shutdown_grace = "5s"
`, srv.Addr, tokenFile)
	for i := range creds {
		rt := filepath.Join(dir, fmt.Sprintf("c%02d.rt", i))
		write(t, rt, p.IssueRefreshToken("app", "read"))
		toml += fmt.Sprintf(`
[[credential]]
name = "c%02d"
token_url = %q
client_id = "app"
client_secret_file = %q
refresh_token_file = %q
  [[credential.sink]]
  type = "file"
  path = %q
  format = "json"
`, i, base+"/token", filepath.Join(dir, "secret"), rt, filepath.Join(sinks, fmt.Sprintf("c%02d.json", i)))
	}
	logs := &syncbuf.Buffer{}
	_, stop := runConfig(t, toml, logs, scheduler.Options{}, "daemon")
	allActive := func() bool {
		for i := range creds {
			if !activeIn(p, sinks, i) {
				return false
			}
		}
		return true
	}
	testkit.WaitUntil(t, "every sink active before the seal", 30*time.Second, allActive)

	srv.Seal()
	time.Sleep(sealed)
	if allActive() {
		t.Fatalf("sinks still active after %v sealed with %v tokens: the seal did not take", sealed, ttl)
	}
	srv.Unseal()
	unsealed := time.Now()
	testkit.WaitUntil(t, "every sink active after the unseal", 2*time.Minute, allActive)
	resumed := time.Since(unsealed)
	stop()

	st := p.Stats()
	t.Logf("every sink active %v after the unseal (sealed %v, %v tokens); refreshes %d, reuses %d",
		resumed.Round(10*time.Millisecond), sealed, ttl, st.Refreshes, st.Reuses)
	if st.Reuses != 0 {
		t.Fatalf("refresh tokens reused %d times", st.Reuses)
	}
	if resumed > 10*time.Second {
		t.Fatalf("sinks active again %v after the unseal; want <= 10 s", resumed)
	}
}
