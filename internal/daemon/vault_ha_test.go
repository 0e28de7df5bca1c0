package daemon

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/fakeprovider"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/syncbuf"
	"github.com/tokend/tokend/internal/testkit"
	"github.com/tokend/tokend/internal/vaulttest"
)

// refreshCounter counts successful token-endpoint calls of one replica.
type refreshCounter struct{ ok, failed atomic.Int64 }

func (r *refreshCounter) RefreshFinished(_ string, _ time.Duration, err error) {
	if err != nil {
		r.failed.Add(1)
		return
	}
	r.ok.Add(1)
}
func (r *refreshCounter) SinkWritten(string, string, error)        {}
func (r *refreshCounter) StatusChanged(scheduler.CredentialStatus) {}

// TestVaultHAReplicas: three daemons share one Vault state store and one
// strict rotating provider (a reused refresh token revokes its family).
// Together they make at least 1,000 refreshes of short-lived tokens; then
// one replica stops. No refresh token is ever reused, every credential stays
// valid, and the work is spread across the replicas.
func TestVaultHAReplicas(t *testing.T) {
	const (
		creds   = 30
		ttl     = 1500 * time.Millisecond
		target  = 1000
		replica = 3
	)
	srv := vaulttest.Start(t)
	dir := t.TempDir()
	p, base := startProvider(t, ttl, "app", "app-secret-value")
	tokenFile := filepath.Join(dir, "vault-token")
	write(t, tokenFile, srv.RootToken)
	var body strings.Builder
	for i := range creds {
		rt := filepath.Join(dir, fmt.Sprintf("c%02d.rt", i))
		write(t, rt, p.IssueRefreshToken("app", "read"))
		fmt.Fprintf(&body, `
[[credential]]
name = "c%02d"
token_url = %q
client_id = "app"
client_secret_file = %q
refresh_token_file = %q
  [[credential.sink]]
  type = "file"
  path = "SINKDIR/c%02d.json"
  format = "json"
`, i, base+"/token", filepath.Join(dir, "secret"), rt, i)
	}
	write(t, filepath.Join(dir, "secret"), "app-secret-value")

	type rep struct {
		sinks string
		cnt   *refreshCounter
		stop  func()
	}
	reps := make([]*rep, replica)
	for r := range reps {
		sinks := filepath.Join(dir, fmt.Sprintf("replica%d", r))
		if err := os.Mkdir(sinks, 0o700); err != nil {
			t.Fatal(err)
		}
		toml := fmt.Sprintf(`
[vault]
address = %q
token_file = %q
[state]
backend = "vault"
prefix = "tokend/ha"
owner = "replica%d"
[scheduler]
shutdown_grace = "5s"
`, srv.Addr, tokenFile, r) + strings.ReplaceAll(body.String(), "SINKDIR", sinks)
		cnt := &refreshCounter{}
		_, stop := runConfig(t, toml, &syncbuf.Buffer{}, scheduler.Options{Observer: cnt, MinInterval: 100 * time.Millisecond, ClaimTTL: 30 * time.Second},
			fmt.Sprintf("replica %d", r))
		reps[r] = &rep{sinks: sinks, cnt: cnt, stop: stop}
	}
	total := func() (n int64) {
		for _, r := range reps {
			n += r.cnt.ok.Load()
		}
		return n
	}
	start := time.Now()
	testkit.WaitUntil(t, fmt.Sprintf("%d refreshes", target), 240*time.Second, func() bool { return total() >= target })
	reps[0].stop()
	stoppedAt := p.Stats().Refreshes
	// The other two carry on: every credential is refreshed again.
	testkit.WaitUntil(t, "refreshes after one replica stopped", 90*time.Second, func() bool { return p.Stats().Refreshes >= stoppedAt+2*creds })
	elapsed := time.Since(start)
	// While the two survivors run, each credential's token in their sinks is
	// one the provider accepts.
	testkit.WaitUntil(t, "every credential valid in a surviving replica's sink", 30*time.Second, func() bool {
		for i := range creds {
			if !activeIn(p, reps[1].sinks, i) && !activeIn(p, reps[2].sinks, i) {
				return false
			}
		}
		return true
	})
	reps[1].stop()
	reps[2].stop()

	st := p.Stats()
	counts := make([]int64, replica)
	for i, r := range reps {
		counts[i] = r.cnt.ok.Load()
	}
	t.Logf("refreshes: %d in %v (provider %d); per replica %v; failed %d/%d/%d; reuses %d",
		total(), elapsed.Round(time.Second), st.Refreshes, counts,
		reps[0].cnt.failed.Load(), reps[1].cnt.failed.Load(), reps[2].cnt.failed.Load(), st.Reuses)
	if st.Reuses != 0 {
		t.Fatalf("refresh tokens reused %d times", st.Reuses)
	}
	for i, n := range counts {
		if n < total()/10 {
			t.Errorf("replica %d did only %d of %d refreshes", i, n, total())
		}
	}
	// Every credential still has exactly one live refresh token.
	if live := p.CurrentRefreshToken("app"); len(live) != creds {
		t.Fatalf("%d live refresh tokens for %d credentials", len(live), creds)
	}
}

func activeIn(p *fakeprovider.Provider, dir string, i int) bool {
	var js struct {
		AccessToken string `json:"access_token"`
	}
	b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("c%02d.json", i)))
	return err == nil && json.Unmarshal(b, &js) == nil && p.ActiveAccessToken(js.AccessToken)
}
