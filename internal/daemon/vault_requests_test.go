package daemon

import (
	"fmt"
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

// rotationCounter counts one replica's finished refreshes (the claim is
// released by then: the scheduler reports after the refresh job returned).
type rotationCounter struct{ ok, failed atomic.Int64 }

func (r *rotationCounter) RefreshFinished(_ string, _ time.Duration, err error) {
	if err != nil {
		r.failed.Add(1)
		return
	}
	r.ok.Add(1)
}
func (r *rotationCounter) SinkWritten(string, string, error)        {}
func (r *rotationCounter) StatusChanged(scheduler.CredentialStatus) {}

// vaultReplica runs one daemon with the vault state backend at addr (the
// server's or a counting proxy's) and one credential "c" that rotates a
// refresh token of p's client "app" and has a Vault KV sink. Access tokens
// live an hour: refreshes happen only at start-up and when forced.
type vaultReplica struct {
	d    *Daemon
	cnt  *rotationCounter
	stop func()
}

func startVaultReplica(t *testing.T, addr, tokenFile, owner, tokenURL, rtFile string) *vaultReplica {
	t.Helper()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "secret"), "app-secret-value")
	doc := fmt.Sprintf(`
[vault]
address = %q
token_file = %q
[state]
backend = "vault"
prefix = "tokend/rq"
owner = %q
[scheduler]
shutdown_grace = "5s"
[[credential]]
name = "c"
token_url = %q
client_id = "app"
client_secret_file = %q
refresh_token_file = %q
  [[credential.sink]]
  type = "vault"
  path = "tokend/sink/c"
`, addr, tokenFile, owner, tokenURL, filepath.Join(dir, "secret"), rtFile)
	cnt := &rotationCounter{}
	d, stop := runConfig(t, doc, &syncbuf.Buffer{}, scheduler.Options{Observer: cnt, MinInterval: 100 * time.Millisecond, ClaimTTL: 30 * time.Second},
		"replica "+owner)
	return &vaultReplica{d: d, cnt: cnt, stop: stop}
}

// rotate forces one refresh of "c" on r and waits until it finished.
func (r *vaultReplica) rotate(t *testing.T) {
	t.Helper()
	before := r.cnt.ok.Load() + r.cnt.failed.Load()
	if err := r.d.sched.RefreshNow("c"); err != nil {
		t.Fatal(err)
	}
	testkit.WaitUntil(t, "the forced refresh", 30*time.Second, func() bool { return r.cnt.ok.Load()+r.cnt.failed.Load() > before })
}

// vaultRequestRig starts the real Vault server behind a counting proxy and
// a strict provider with one refresh token issued; start runs a replica
// named owner against both (startVaultReplica).
func vaultRequestRig(t *testing.T) (*fakeprovider.Provider, *vaulttest.Counter, func(owner string) *vaultReplica) {
	t.Helper()
	srv := vaulttest.Start(t)
	p, base := startProvider(t, time.Hour, "app", "app-secret-value")
	dir := t.TempDir()
	tokenFile, rt := filepath.Join(dir, "vault-token"), filepath.Join(dir, "c.rt")
	write(t, tokenFile, srv.RootToken)
	write(t, rt, p.IssueRefreshToken("app", "read"))
	addr, cnt := srv.CountingProxy()
	return p, cnt, func(owner string) *vaultReplica {
		return startVaultReplica(t, addr, tokenFile, owner, base+"/token", rt)
	}
}

// TestVaultRotationRequests counts, through a recording proxy in front of
// the real Vault server, the requests one replica makes per rotation of a
// credential with the vault state backend and one Vault KV sink: 4 for the
// state (blind claim write, intent, result, claim clear: the claim read
// and the record re-read are skipped while this replica is the only one
// claiming; known.go in internal/state/vaultstore) and 1 for the sink (its
// check-and-set write, the generation in the data). It was 6 + 3.
func TestVaultRotationRequests(t *testing.T) {
	p, cnt, start := vaultRequestRig(t)
	r := start("replica-a")
	testkit.WaitUntil(t, "the start-up refresh", 30*time.Second, func() bool { return r.cnt.ok.Load() == 1 })
	r.rotate(t) // the first forced rotation still learns the claim version
	cnt.Take()
	const rotations = 10
	for range rotations {
		r.rotate(t)
	}
	r.stop()
	got := cnt.Take()
	var stateReqs, sinkReqs int
	for _, req := range got {
		switch {
		case strings.Contains(req, "/tokend/rq/"):
			stateReqs++
		case strings.Contains(req, "/tokend/sink/"):
			sinkReqs++
		default:
			t.Errorf("unexpected request %s", req)
		}
		if strings.HasPrefix(req, "GET ") {
			t.Errorf("a rotation read from Vault: %s", req)
		}
	}
	t.Logf("Vault requests per rotation: state %.1f, sink %.1f (were 6 and 3)",
		float64(stateReqs)/rotations, float64(sinkReqs)/rotations)
	if stateReqs != 4*rotations || sinkReqs != rotations || r.cnt.failed.Load() != 0 {
		t.Fatalf("%d state and %d sink requests for %d rotations (%d failed): %v", stateReqs, sinkReqs, rotations, r.cnt.failed.Load(), got)
	}
	if st := p.Stats(); st.Reuses != 0 {
		t.Fatalf("refresh tokens reused %d times", st.Reuses)
	}
}

// TestVaultReplicasAlternate: two replicas take turns refreshing one
// credential, so each one's remembered record and claim versions are stale
// at every turn (the other wrote since). Every turn must still spend the
// current refresh token exactly once: the strict provider sees no reuse,
// every forced refresh succeeds, and one refresh token stays live.
func TestVaultReplicasAlternate(t *testing.T) {
	p, cnt, start := vaultRequestRig(t)
	a := start("replica-a")
	testkit.WaitUntil(t, "the start-up refresh", 30*time.Second, func() bool { return a.cnt.ok.Load() == 1 })
	b := start("replica-b")
	// b adopts a's record at start-up (or refreshes it, if it was due).
	testkit.WaitUntil(t, "b's start-up", 30*time.Second, func() bool {
		st := b.d.sched.Snapshot()
		return len(st) == 1 && st[0].Generation >= 1
	})
	cnt.Take()
	const turns = 20
	for i := range turns {
		r := a
		if i%2 == 1 {
			r = b
		}
		r.rotate(t)
	}
	a.stop()
	b.stop()
	reqs := len(cnt.Take())
	st := p.Stats()
	t.Logf("%d alternating rotations: %d Vault requests (%.1f per rotation), refreshes a %d b %d, failed a %d b %d, reuses %d",
		turns, reqs, float64(reqs)/turns, a.cnt.ok.Load(), b.cnt.ok.Load(), a.cnt.failed.Load(), b.cnt.failed.Load(), st.Reuses)
	if st.Reuses != 0 {
		t.Fatalf("refresh tokens reused %d times", st.Reuses)
	}
	if a.cnt.failed.Load() != 0 || b.cnt.failed.Load() != 0 || a.cnt.ok.Load() < 1+turns/2 || b.cnt.ok.Load() < turns/2 {
		t.Fatalf("refreshes: a %d (failed %d), b %d (failed %d)", a.cnt.ok.Load(), a.cnt.failed.Load(), b.cnt.ok.Load(), b.cnt.failed.Load())
	}
	if live := p.CurrentRefreshToken("app"); len(live) != 1 {
		t.Fatalf("%d live refresh tokens, want 1", len(live))
	}
}
