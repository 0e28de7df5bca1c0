package crashtest

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/fakeprovider"
	"github.com/tokend/tokend/internal/state"
)

var (
	rotationsFlag = flag.Int("rotations", 100, "crash test: provider rotations to reach before stopping (long mode: 500)")
	budgetFlag    = flag.Duration("crash-budget", 90*time.Second, "crash test: time limit for reaching -rotations")
	seedFlag      = flag.Uint64("crash-seed", 0, "crash test: random seed for kill timing and modes (0: from the clock)")
)

const numCreds = 12

// snap is one credential's record as found on disk after a kill.
type snap struct {
	rt     string
	intent bool
	status state.Status
}

// harness runs tokend against the tapped provider, run after run.
type harness struct {
	t       *testing.T
	bin     string
	dir     string
	cfg     string
	p       *fakeprovider.Provider
	tap     *tap
	snaps   []map[string]snap // snaps[r]: the store before run r started
	logs    []string          // logs[r]: stderr of run r
	reseeds int
}

func cred(i int) string { return fmt.Sprintf("c%02d", i) }

func newHarness(t *testing.T) *harness {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed to build tokend: %v", err)
	}
	h := &harness{t: t, bin: filepath.Join(t.TempDir(), "tokend"), dir: t.TempDir()}
	if out, err := exec.Command(goBin, "build", "-o", h.bin, "../../cmd/tokend").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	h.p, err = fakeprovider.New(fakeprovider.Options{AccessTTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h.tap = &tap{inner: h.p.Handler()}
	srv := httptest.NewServer(h.tap)
	t.Cleanup(srv.Close)
	var b strings.Builder
	fmt.Fprintf(&b, "[state]\ndir = %q\n", filepath.Join(h.dir, "state"))
	for i := range numCreds {
		c := cred(i)
		h.p.AddClient(c, "secret-"+c)
		h.seed(c)
		fmt.Fprintf(&b, `
[[credential]]
name = %[1]q
token_url = %[2]q
client_id = %[1]q
client_secret = "secret-%[1]s"
refresh_token_file = %[3]q
  [[credential.sink]]
  type = "file"
  path = %[4]q
`, c, srv.URL+"/token", filepath.Join(h.dir, c+".rt"), filepath.Join(h.dir, c+".token"))
	}
	h.cfg = filepath.Join(h.dir, "tokend.toml")
	if err := os.WriteFile(h.cfg, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return h
}

// seed starts a new token family for c and puts its first refresh token in
// c's refresh_token_file, as an operator re-authorizing would.
func (h *harness) seed(c string) {
	if err := os.WriteFile(filepath.Join(h.dir, c+".rt"), []byte(h.p.IssueRefreshToken(c, "read")+"\n"), 0o600); err != nil {
		h.t.Fatal(err)
	}
}

// inspect reads the store of a stopped tokend and re-seeds credentials that
// need re-authorization (deleting their record so the new seed is used).
func (h *harness) inspect(reseed bool) map[string]snap {
	h.t.Helper()
	m := map[string]snap{}
	st, err := state.Open(filepath.Join(h.dir, "state"), state.Options{LockTimeout: 5 * time.Second})
	if err != nil {
		h.t.Fatalf("opening the state of a killed tokend: %v", err)
	}
	defer st.Close()
	recs, err := st.List(context.Background())
	if err != nil {
		h.t.Fatalf("listing state: %v", err)
	}
	for _, r := range recs {
		m[r.Credential] = snap{rt: r.RefreshToken.Reveal(), intent: r.Intent != nil, status: r.Status}
		if reseed && r.Status == state.StatusNeedsReauth {
			if err := st.Delete(context.Background(), r.Credential); err != nil {
				h.t.Fatal(err)
			}
			h.seed(r.Credential)
			h.reseeds++
		}
	}
	return m
}

// kill counts per mode.
type kills struct{ random, before, after, fallback int }

func (k kills) total() int { return k.random + k.before + k.after + k.fallback }

// cycle runs tokend once and kills it in a random way; the last run ends
// with SIGTERM instead.
func (h *harness) cycle(rng *rand.Rand, k *kills, last bool) {
	h.t.Helper()
	run := len(h.logs)
	if _, err := os.Stat(filepath.Join(h.dir, "state")); err == nil {
		h.snaps = append(h.snaps, h.inspect(true))
	} else {
		h.snaps = append(h.snaps, map[string]snap{})
	}
	var stderr bytes.Buffer
	cmd := exec.Command(h.bin, "run", "--config", h.cfg)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	proc := cmd.Process
	h.tap.startRun(run, func() { _ = proc.Signal(syscall.SIGKILL) })
	wait := func(d time.Duration) bool {
		select {
		case <-exited:
			return true
		case <-time.After(d):
			return false
		}
	}
	switch {
	case last:
		wait(4 * time.Second)
		_ = proc.Signal(syscall.SIGTERM)
		if !wait(30 * time.Second) {
			h.t.Fatalf("tokend did not stop on SIGTERM:\n%s", stderr.String())
		}
	default:
		switch m := rng.IntN(10); {
		case m < 4: // anywhere: start-up, idle, mid-request, mid-commit
			k.random++
			wait(time.Duration(rng.Int64N(int64(2500 * time.Millisecond))))
			_ = proc.Signal(syscall.SIGKILL)
			<-exited
		default:
			mode := killBefore
			if m >= 7 {
				mode = killAfterAns
			}
			wait(time.Duration(rng.Int64N(int64(1500 * time.Millisecond))))
			h.tap.arm(mode)
			if !wait(5 * time.Second) { // no refresh came: kill anyway
				k.fallback++
				_ = proc.Signal(syscall.SIGKILL)
				<-exited
			} else if mode == killBefore {
				k.before++
			} else {
				k.after++
			}
		}
	}
	h.tap.arm(killNone)
	h.tap.settle()
	h.logs = append(h.logs, stderr.String())
}

// TestCrashKill kills tokend with SIGKILL at random moments while it rotates
// single-use refresh tokens, and checks the ledger: no loss outside the
// window "provider rotated, answer never on disk", no reuse of a rotated
// token except the one retry after such a window, every such loss reported.
func TestCrashKill(t *testing.T) {
	h := newHarness(t)
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("random seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	var k kills
	deadline := time.Now().Add(*budgetFlag)
	minKills := max(10, *rotationsFlag/10)
	for accepted(h.tap.entries()) < *rotationsFlag || k.total() < minKills {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d rotations and %d of %d kills within %v",
				accepted(h.tap.entries()), *rotationsFlag, k.total(), minKills, *budgetFlag)
		}
		h.cycle(rng, &k, false)
	}
	h.cycle(rng, &k, true) // a clean last run heals what it can
	final := h.inspect(false)
	f := analyse(t, h, final)
	f.kills = k.total()
	t.Logf("crash figures: runs=%d kills=%d (random=%d rotated-unsent=%d sent-then-killed=%d fallback=%d) "+
		"rotations=%d losses=%d in_window=%d reported=%d outside_window=%d reuses_outside_window=%d in_window_retries=%d reseeded=%d",
		len(h.logs), f.kills, k.random, k.before, k.after, k.fallback,
		f.rotations, f.losses, f.inWindow, f.reported, f.losses-f.inWindow, f.badReuse, f.retries, h.reseeds)
}

// figures are the results of one crash test.
type figures struct {
	rotations, kills, losses, inWindow, reported, badReuse, retries int
}

func accepted(l []entry) int {
	n := 0
	for _, e := range l {
		if e.status == 200 {
			n++
		}
	}
	return n
}

// analyse classifies every refresh in the ledger and checks the final state.
func analyse(t *testing.T, h *harness, final map[string]snap) figures {
	t.Helper()
	var f figures
	rotated := map[string]bool{} // refresh tokens the provider accepted (and so rotated)
	lost := map[string]bool{}    // tokens whose reuse revoked a family
	tried := map[string]bool{}   // run and token of each in-window retry: one per run
	for _, e := range h.tap.entries() {
		switch {
		case e.status == 200:
			f.rotations++
			rotated[e.presented] = true
		case rotated[e.presented]:
			s, ok := h.snaps[e.run][e.cred]
			inWindow := ok && s.intent && s.rt == e.presented
			if !inWindow {
				f.badReuse++
				t.Errorf("run %d: %s presented an already-rotated refresh token outside the crash window (store had intent=%v, same token=%v)",
					e.run, e.cred, s.intent, s.rt == e.presented)
				continue
			}
			f.retries++
			key := fmt.Sprint(e.run, e.presented)
			if tried[key] {
				f.badReuse++
				t.Errorf("run %d: %s retried a rotated refresh token more than once", e.run, e.cred)
			}
			tried[key] = true
			if lost[e.presented] {
				continue // killed again during the one retry: same loss
			}
			lost[e.presented] = true
			f.losses++
			f.inWindow++
			if reportedByName(h.logs[e.run], e.cred) {
				f.reported++
			} else {
				t.Errorf("run %d: in-window loss of %s not reported by name on restart", e.run, e.cred)
			}
		default:
			t.Errorf("run %d: %s: refresh refused with %d for a token never rotated", e.run, e.cred, e.status)
		}
	}
	if got := h.p.Stats().FamiliesRevoked; got != f.losses {
		t.Errorf("provider revoked %d families, ledger explains %d losses", got, f.losses)
	}
	if h.reseeds+countReauth(final) != f.losses {
		t.Errorf("credentials found needing re-authorization: %d re-seeded + %d at the end; losses %d", h.reseeds, countReauth(final), f.losses)
	}
	for i := range numCreds {
		c := cred(i)
		s := final[c]
		switch s.status {
		case state.StatusNeedsReauth:
		case state.StatusOK:
			if live := h.p.CurrentRefreshToken(c); len(live) != 1 || live[0] != s.rt {
				t.Errorf("%s: stored refresh token is not the provider's one live token (%d live)", c, len(live))
			}
		default:
			t.Errorf("%s: status %q after a clean run", c, s.status)
		}
	}
	return f
}

func countReauth(m map[string]snap) int {
	n := 0
	for _, s := range m {
		if s.status == state.StatusNeedsReauth {
			n++
		}
	}
	return n
}

// reportedByName reports whether a log has the "refresh outcome unknown"
// warning for credential c.
func reportedByName(log, c string) bool {
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.Contains(l, "refresh outcome unknown") && strings.Contains(l, `"credential":"`+c+`"`) {
			return true
		}
	}
	return false
}
