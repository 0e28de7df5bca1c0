package benchpeer

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/bench"
)

// TestMain lets the test binary serve as tokend's daemon child.
func TestMain(m *testing.M) {
	if os.Getenv(bench.DaemonEnv) != "" && len(os.Args) > 1 && os.Args[1] == "daemon" {
		os.Exit(bench.RunDaemon(os.Args[2:], os.Stderr))
	}
	os.Exit(m.Run())
}

// TestSmokeOAuthApp runs the oauthapp comparison with 20 credentials a side
// and 15 s tokens: both sides did their burst and refreshed in the quiet
// window, no refresh token was presented twice, neither served an expired
// or inactive token, tokend's reads never failed, and the table has every
// row with its ratio.
func TestSmokeOAuthApp(t *testing.T) {
	vault, err := bench.FindTool("TOKEND_VAULT_BIN", "vault-bin")
	if err != nil {
		t.Fatal(err)
	}
	plugin, err := bench.FindTool("TOKEND_OAUTHAPP_BIN", "oauthapp-bin")
	if err != nil {
		t.Fatal(err)
	}
	r, err := bench.Run(bench.Options{
		Daemon: []string{os.Args[0], "daemon"}, Dir: t.TempDir(), MaxConcurrent: 8,
		Peer: "oauthapp", VaultBin: vault, OAuthAppBin: plugin,
		PeerN: 20, PeerTTL: 15 * time.Second, PeerFor: 16 * time.Second, PeerCheckInterval: 2 * time.Second,
		Progress: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := r.Peer
	if p.Reuses != 0 {
		t.Fatalf("%d refresh tokens presented twice", p.Reuses)
	}
	for name, s := range map[string]bench.PeerSide{"tokend": p.Tokend, "oauthapp": p.OAuthApp} {
		if s.BurstRPS <= 0 || s.BurstCPU <= 0 || s.QuietRefreshes == 0 || s.RSS < 1<<20 || len(s.Margins) == 0 {
			t.Fatalf("%s: implausible %+v", name, s)
		}
		if s.Checks == 0 || s.Expired != 0 {
			t.Fatalf("%s: %d reads, %d served an expired or inactive token; want some and 0", name, s.Checks, s.Expired)
		}
	}
	if p.Tokend.Failed != 0 || p.OAuthApp.Failed == p.OAuthApp.Checks {
		t.Fatalf("failed reads: tokend %d, oauthapp %d of %d; want 0 and fewer than all", p.Tokend.Failed, p.OAuthApp.Failed, p.OAuthApp.Checks)
	}
	var out strings.Builder
	r.Print(&out)
	for _, want := range []string{"burst refreshes/s", "quiet window: CPU per refresh", "RSS (tokend+its Vault / Vault+plugin)",
		"refresh margin p50", "expired or inactive tokens served", "ratio"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("table lacks %q:\n%s", want, out.String())
		}
	}
	t.Logf("\n%s", out.String())
}
