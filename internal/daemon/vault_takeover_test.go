package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/fakeprovider"
	"github.com/tokend/tokend/internal/testkit"
	"github.com/tokend/tokend/internal/vaulttest"
)

// takeover runs real tokend processes that share one Vault state store and
// one strict provider whose token endpoint answers after a delay, so that
// claims are held long enough to kill a replica while it holds some.
type takeover struct {
	t     *testing.T
	srv   *vaulttest.Server
	p     *fakeprovider.Provider
	bin   string
	dir   string
	body  string
	procs []*exec.Cmd
}

const (
	tkCreds  = 6
	tkPrefix = "tokend/takeover"
)

func newTakeover(t *testing.T, replicas int, accessTTL, delay time.Duration) *takeover {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed to build tokend: %v", err)
	}
	k := &takeover{t: t, srv: vaulttest.Start(t), dir: t.TempDir()}
	k.bin = filepath.Join(k.dir, "tokend")
	if out, err := exec.Command(goBin, "build", "-o", k.bin, "../../cmd/tokend").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	k.p, err = fakeprovider.New(fakeprovider.Options{AccessTTL: accessTTL})
	if err != nil {
		t.Fatal(err)
	}
	k.p.AddClient("app", "app-secret-value")
	inner := k.p.Handler()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the body first: only then does net/http notice a client that
		// goes away (r.Context ends), so a killed replica's request is never
		// processed. (A request processed after its sender died is the
		// unknown-outcome window every crash has, not a claim question.)
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		select { // a slow provider: the claim is held meanwhile
		case <-time.After(delay):
			inner.ServeHTTP(w, r)
		case <-r.Context().Done(): // the caller died: the request is never processed
		}
	}))
	t.Cleanup(hs.Close)
	tokenFile := filepath.Join(k.dir, "vault-token")
	write(t, tokenFile, k.srv.RootToken)
	var b strings.Builder
	fmt.Fprintf(&b, "[vault]\naddress = %q\ntoken_file = %q\n", k.srv.Addr, tokenFile)
	fmt.Fprintf(&b, "[state]\nbackend = \"vault\"\nprefix = %q\ndir = \"STATEDIR\"\n", tkPrefix)
	for i := range tkCreds {
		rt := filepath.Join(k.dir, fmt.Sprintf("c%02d.rt", i))
		write(t, rt, k.p.IssueRefreshToken("app", "read"))
		fmt.Fprintf(&b, `
[[credential]]
name = "c%02d"
token_url = %q
client_id = "app"
client_secret = "app-secret-value"
refresh_token_file = %q
  [[credential.sink]]
  type = "vault"
  path = "tokend/sink/c%02d"
`, i, hs.URL+"/token", rt, i)
	}
	k.body = b.String()
	k.procs = make([]*exec.Cmd, replicas)
	for r := range replicas {
		k.start(r)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for r := range replicas {
				b, _ := os.ReadFile(filepath.Join(k.dir, fmt.Sprintf("replica%d.log", r)))
				var keep []string
				for _, l := range strings.Split(string(b), "\n") {
					if !strings.Contains(l, `"refreshed"`) && !strings.Contains(l, "adopted") {
						keep = append(keep, l)
					}
				}
				t.Logf("replica %d log (no refreshes):\n%s", r, strings.Join(keep, "\n"))
			}
		}
		for _, c := range k.procs {
			if c != nil {
				_ = c.Process.Kill()
				_ = c.Wait()
			}
		}
	})
	return k
}

// start runs replica r; its state dir, and so its default claim owner, is
// the same at every start.
func (k *takeover) start(r int) {
	sd := filepath.Join(k.dir, fmt.Sprintf("state%d", r))
	if err := os.MkdirAll(sd, 0o700); err != nil {
		k.t.Fatal(err)
	}
	cfg := filepath.Join(k.dir, fmt.Sprintf("replica%d.toml", r))
	write(k.t, cfg, strings.ReplaceAll(k.body, "STATEDIR", sd))
	c := exec.Command(k.bin, "run", "--config", cfg)
	log, err := os.OpenFile(filepath.Join(k.dir, fmt.Sprintf("replica%d.log", r)), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		k.t.Fatal(err)
	}
	defer log.Close()
	c.Stdout, c.Stderr = log, log
	if err := c.Start(); err != nil {
		k.t.Fatal(err)
	}
	k.procs[r] = c
}

// unknownOutcomes counts the "refresh outcome unknown" reports in every
// replica's log (all its starts).
func (k *takeover) unknownOutcomes() int {
	seen := map[string]bool{} // credential and generation: one interrupted refresh, reported at each start
	for r := range k.procs {
		b, _ := os.ReadFile(filepath.Join(k.dir, fmt.Sprintf("replica%d.log", r)))
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.Contains(l, `"msg":"refresh outcome unknown`) {
				continue
			}
			var e struct {
				Credential string `json:"credential"`
				Generation uint64 `json:"generation"`
			}
			if json.Unmarshal([]byte(l), &e) == nil {
				seen[fmt.Sprintf("%s/%d", e.Credential, e.Generation)] = true
			}
		}
	}
	return len(seen)
}

// kill SIGKILLs replica r.
func (k *takeover) kill(r int) {
	_ = k.procs[r].Process.Signal(syscall.SIGKILL)
	_ = k.procs[r].Wait()
	k.procs[r] = nil
}

// owner is replica r's default claim owner (hostname + ":" + state dir).
func (k *takeover) owner(r int) string {
	host, _ := os.Hostname()
	return host + ":" + filepath.Join(k.dir, fmt.Sprintf("state%d", r))
}

// claimsOf returns the credentials whose live claim replica r holds.
func (k *takeover) claimsOf(r int) []string {
	var held []string
	for i := range tkCreds {
		if c := fmt.Sprintf("c%02d", i); k.claimOwner(c) == k.owner(r) {
			held = append(held, c)
		}
	}
	return held
}

// sinkActive reports whether credential c's Vault sink holds a token the
// provider accepts.
func (k *takeover) sinkActive(c string) bool {
	s, err := k.srv.Client().Logical().Read("secret/data/tokend/sink/" + c)
	if err != nil || s == nil {
		return false
	}
	data, _ := s.Data["data"].(map[string]any)
	tok, _ := data["access_token"].(string)
	return tok != "" && k.p.ActiveAccessToken(tok)
}

// killHolding SIGKILLs replica r at a moment it holds at least one claim and
// returns those credentials.
func (k *takeover) killHolding(r int) []string {
	var held []string
	testkit.WaitUntil(k.t, fmt.Sprintf("replica %d holding a claim", r), 60*time.Second, func() bool {
		held = k.claimsOf(r)
		return len(held) > 0
	})
	k.kill(r)
	return held
}

// generation is credential c's committed generation in the Vault store.
func (k *takeover) generation(c string) int64 {
	s, err := k.srv.Client().Logical().Read(fmt.Sprintf("secret/data/%s/%s", tkPrefix, c))
	if err != nil || s == nil {
		return -1
	}
	data, _ := s.Data["data"].(map[string]any)
	var g int64
	_, _ = fmt.Sscan(fmt.Sprint(data["generation"]), &g)
	return g
}

// takenOver waits until every credential in creds has a generation beyond
// the one it had at the kill, and returns how long after the kill that was
// and how long until each was claimed by an owner other than dead (the
// takeover proper; the commit follows one provider round trip later).
func (k *takeover) takenOver(creds []string, dead string, before map[string]int64, killed time.Time, limit time.Duration) (claimed, committed time.Duration) {
	for _, c := range creds {
		testkit.WaitUntil(k.t, c+" refreshed after the kill", limit, func() bool {
			if claimed == 0 {
				if o := k.claimOwner(c); o != "" && o != dead {
					claimed = time.Since(killed)
				}
			}
			return k.generation(c) > before[c]
		})
	}
	committed = time.Since(killed)
	if claimed == 0 {
		claimed = committed
	}
	return claimed, committed
}

// claimOwner is the owner of credential c's live claim ("" if none).
func (k *takeover) claimOwner(c string) string {
	s, err := k.srv.Client().Logical().Read(fmt.Sprintf("secret/data/%s/claims/%s", tkPrefix, c))
	if err != nil || s == nil {
		return ""
	}
	data, _ := s.Data["data"].(map[string]any)
	exp, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(data["expires_at"]))
	if !exp.After(time.Now()) {
		return ""
	}
	o, _ := data["owner"].(string)
	return o
}

// TestVaultTakeoverAfterKill: three real tokend processes share a Vault state
// store and a strict rotating provider that answers after 1.5 s. A replica
// SIGKILLed while it holds claims has them taken over by the survivors within
// 15 s (default claim_ttl 10 s plus a re-check), and a replica restarted after
// a SIGKILL takes its own dead claims back at once (its owner id is stable),
// long before they could expire. No refresh token is ever reused.
func TestVaultTakeoverAfterKill(t *testing.T) {
	k := newTakeover(t, 3, 5*time.Second, 1500*time.Millisecond)
	testkit.WaitUntil(t, "every credential refreshed", 60*time.Second, func() bool {
		for i := range tkCreds {
			if k.generation(fmt.Sprintf("c%02d", i)) < 2 {
				return false
			}
		}
		return true
	})

	held := k.killHolding(0)
	killed := time.Now()
	before := map[string]int64{}
	for _, c := range held {
		before[c] = k.generation(c)
	}
	claimed, took := k.takenOver(held, k.owner(0), before, killed, 60*time.Second)
	t.Logf("replica 0 killed holding %v: claimed by a survivor %v and refreshed %v after the kill",
		held, claimed.Round(100*time.Millisecond), took.Round(100*time.Millisecond))
	if claimed > 15*time.Second {
		t.Errorf("takeover after a kill took %v, want at most 15s", claimed)
	}

	held = k.killHolding(1)
	killed = time.Now()
	for _, c := range held {
		before[c] = k.generation(c)
	}
	k.start(1)
	// The dead claims were written within the last 1.5 s: the survivors
	// cannot take them for 8.5 s more. Refreshed sooner: replica 1 took its
	// own claims back.
	_, took = k.takenOver(held, "", before, killed, 60*time.Second)
	t.Logf("replica 1 killed holding %v and restarted: refreshed %v after the kill", held, took.Round(100*time.Millisecond))
	if took > 8*time.Second {
		t.Errorf("the restarted replica took %v to refresh its own dead claims, want well under the 10s claim_ttl", took)
	}
	if st := k.p.Stats(); st.Reuses != 0 || st.FamiliesRevoked != 0 {
		t.Fatalf("refresh tokens reused %d times (%d families revoked)", st.Reuses, st.FamiliesRevoked)
	}
}

// TestVaultKillStorm: three real tokend processes, 5 s tokens, a provider
// that answers after 300 ms. For 60 s a random replica is SIGKILLed every
// 2–5 s and restarted 1 s later. The Vault sinks hold a token the provider
// accepts at least 95 % of the time, and no refresh token is reused.
func TestVaultKillStorm(t *testing.T) {
	const storm = 60 * time.Second
	k := newTakeover(t, 3, 5*time.Second, 300*time.Millisecond)
	active := func() (n int) {
		for i := range tkCreds {
			if k.sinkActive(fmt.Sprintf("c%02d", i)) {
				n++
			}
		}
		return n
	}
	testkit.WaitUntil(t, "every sink active", 60*time.Second, func() bool { return active() == tkCreds })
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 16))
	end := time.Now().Add(storm)
	nextKill := time.Now().Add(2 * time.Second)
	var restart []struct {
		r  int
		at time.Time
	}
	var samples, good, kills, holding int
	for now := time.Now(); now.Before(end); now = time.Now() {
		if !now.Before(nextKill) {
			var alive []int
			for r, c := range k.procs {
				if c != nil {
					alive = append(alive, r)
				}
			}
			if len(alive) > 0 {
				r := alive[rng.IntN(len(alive))]
				if len(k.claimsOf(r)) > 0 {
					holding++
				}
				k.kill(r)
				kills++
				restart = append(restart, struct {
					r  int
					at time.Time
				}{r, now.Add(time.Second)})
			}
			nextKill = now.Add(2*time.Second + time.Duration(rng.Int64N(int64(3*time.Second))))
		}
		for len(restart) > 0 && !now.Before(restart[0].at) {
			k.start(restart[0].r)
			restart = restart[1:]
		}
		samples += tkCreds
		good += active()
		time.Sleep(200 * time.Millisecond)
	}
	share := float64(good) / float64(samples)
	st := k.p.Stats()
	t.Logf("kill storm %v: %d SIGKILLs (%d while holding claims), sinks active %.1f%% of %d samples, %d refreshes, %d reuses",
		storm, kills, holding, 100*share, samples, st.Refreshes, st.Reuses)
	// A SIGKILL after the provider rotated but before the answer was
	// committed is the unknown-outcome window every crash has (the crash
	// test's rule): the restarted replica reports it by name ("refresh
	// outcome unknown") and tries once with the stored token, which the
	// provider may count as a reuse. Any other reuse is a claim failure.
	if unknown := k.unknownOutcomes(); st.Reuses > unknown || st.FamiliesRevoked > unknown {
		t.Fatalf("refresh tokens reused %d times (%d families revoked), more than the %d unknown outcomes reported", st.Reuses, st.FamiliesRevoked, unknown)
	} else if st.Reuses > 0 {
		t.Logf("%d reuses, all in the unknown-outcome window (%d reported by name)", st.Reuses, unknown)
	}
	if share < 0.95 {
		t.Errorf("sinks held an active token %.1f%% of the time, want at least 95%%", 100*share)
	}
}
