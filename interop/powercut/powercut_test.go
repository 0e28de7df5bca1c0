package powercut

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
	"github.com/tokend/tokend/internal/sinks/envfile"
	"github.com/tokend/tokend/internal/state"
)

var (
	rotationsFlag = flag.Int("powercut-rotations", 200, "power-cut test: provider rotations to reach")
	cutsFlag      = flag.Int("powercut-cuts", 20, "power-cut test: power cuts to reach at least")
	moreCutsFlag  = flag.Int("powercut-more-cuts", 30, "power-cut test: power cuts to go on to while within -powercut-aim")
	aimFlag       = flag.Duration("powercut-aim", 45*time.Second, "power-cut test: time to go on cutting in, once the minimums are reached")
	budgetFlag    = flag.Duration("powercut-budget", 85*time.Second, "power-cut test: time limit for the minimums")
	seedFlag      = flag.Uint64("powercut-seed", 0, "power-cut test: random seed (0: from the clock)")
)

const numCreds = 24

func cred(i int) string { return fmt.Sprintf("c%02d", i) }

// envVar is c's variable in the env-file all credentials share.
func envVar(c string) string { return "TOKEN_" + strings.ToUpper(c) }

// snap is one credential's record as found in the durable image.
type snap struct {
	rt     string
	intent bool
	status state.Status
}

// sinkFigures count the sink states found in the durable images.
type sinkFigures struct {
	absent, unchanged, newer, empty, foreign, older int
}

// harness runs tokend on the volatile file system, cut after cut.
type harness struct {
	t              *testing.T
	errorf         func(format string, args ...any) // a finding (t.Errorf, or collected by the negative control)
	bin, dir, cfg  string
	mnt            string
	vfs            *VolatileFS
	p              *fakeprovider.Provider
	tap            *tap
	snaps          []map[string]snap // snaps[r]: the durable store before run r
	logs           []string          // logs[r]: stderr of run r
	reseeds        int
	sinkSeen       map[string]int // sink -> order of its token at the last cut
	sinks          sinkFigures
	random, onAnsw int // cuts at a random moment; cuts right after an answer was sent
}

func newHarness(t *testing.T) *harness {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed to build tokend: %v", err)
	}
	h := &harness{t: t, errorf: t.Errorf, bin: filepath.Join(t.TempDir(), "tokend"), dir: t.TempDir(), sinkSeen: map[string]int{}}
	build := exec.Command(goBin, "build", "-o", h.bin, "./cmd/tokend")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	h.mnt = filepath.Join(h.dir, "mnt")
	if err := os.Mkdir(h.mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if h.vfs, err = NewVolatileFS(t.TempDir(), h.mnt); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(h.vfs.Backing(), "sinks"), 0o700); err != nil {
		t.Fatal(err)
	}
	h.p, err = fakeprovider.New(fakeprovider.Options{AccessTTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h.tap = &tap{inner: h.p.Handler(), issued: map[string]map[string]int{}}
	srv := httptest.NewServer(h.tap)
	t.Cleanup(srv.Close)
	var b strings.Builder
	fmt.Fprintf(&b, "[state]\ndir = %q\n", filepath.Join(h.mnt, "state"))
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
  [[credential.sink]]
  type = "envfile"
  path = %[5]q
  var = %[6]q
`, c, srv.URL+"/token", filepath.Join(h.dir, c+".rt"), filepath.Join(h.mnt, "sinks", c+".token"),
			filepath.Join(h.mnt, "sinks", "all.env"), envVar(c))
	}
	h.cfg = filepath.Join(h.dir, "tokend.toml")
	if err := os.WriteFile(h.cfg, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return h
}

// seed starts a new token family for c in its refresh_token_file (outside
// the volatile mount: the operator's file), as a re-authorization would.
func (h *harness) seed(c string) {
	if err := os.WriteFile(filepath.Join(h.dir, c+".rt"), []byte(h.p.IssueRefreshToken(c, "read")+"\n"), 0o600); err != nil {
		h.t.Fatal(err)
	}
}

// inspect reads the store in the backing directory (unmounted: the disk
// after a cut) and re-seeds credentials that need re-authorization.
func (h *harness) inspect(reseed bool) map[string]snap {
	h.t.Helper()
	m := map[string]snap{}
	dir := filepath.Join(h.vfs.Backing(), "state")
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		return m
	}
	st, err := state.Open(dir, state.Options{LockTimeout: 5 * time.Second})
	if err != nil {
		h.t.Fatalf("opening the store after a power cut: %v", err)
	}
	defer st.Close()
	recs, err := st.List(context.Background())
	if err != nil {
		h.t.Fatalf("listing the store after a power cut: %v", err)
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

// checkSinks classifies every sink of the durable image: each credential's
// file sink and its variable in the shared env-file are absent (never made
// durable yet), unchanged since the last cut, or a newer complete token;
// empty, foreign (not a whole token issued to that credential: torn), older
// than at the last cut, or gone after holding a token are failures. The
// env-file must parse as a whole.
func (h *harness) checkSinks() {
	h.t.Helper()
	cut := h.vfs.Counts().Cuts
	env, err := os.ReadFile(filepath.Join(h.vfs.Backing(), "sinks", "all.env"))
	var vars map[string]string
	switch {
	case os.IsNotExist(err):
	case err != nil:
		h.errorf("cut %d: env-file unreadable: %v", cut, err)
	case len(env) == 0:
		h.sinks.empty++
		h.errorf("cut %d: env-file is empty", cut)
	default:
		if vars, err = envfile.Parse(env); err != nil {
			h.sinks.foreign++
			h.errorf("cut %d: env-file of %d bytes does not parse (torn): %v", cut, len(env), err)
		}
	}
	for i := range numCreds {
		c := cred(i)
		b, err := os.ReadFile(filepath.Join(h.vfs.Backing(), "sinks", c+".token"))
		if err != nil && !os.IsNotExist(err) {
			h.errorf("cut %d: sink %s unreadable: %v", cut, c, err)
		}
		h.classify(cut, "file sink "+c, c, string(b), err == nil)
		v, ok := vars[envVar(c)]
		h.classify(cut, "env-file variable "+envVar(c), c, v, ok)
	}
}

// classify checks one sink's content after a cut (see checkSinks).
func (h *harness) classify(cut int, sink, c, tok string, present bool) {
	prev := h.sinkSeen[sink]
	switch {
	case !present && prev == 0:
		h.sinks.absent++
	case !present:
		h.sinks.empty++
		h.errorf("cut %d: %s is gone after it held a token", cut, sink)
	case tok == "":
		h.sinks.empty++
		h.errorf("cut %d: %s is empty", cut, sink)
	default:
		o := h.tap.order(c, tok)
		switch {
		case o == 0:
			h.sinks.foreign++
			h.errorf("cut %d: %s holds %d bytes that are not a token issued to %s (torn)", cut, sink, len(tok), c)
		case o < prev:
			h.sinks.older++
			h.errorf("cut %d: %s went back from token #%d to #%d", cut, sink, prev, o)
		case o == prev:
			h.sinks.unchanged++
		default:
			h.sinks.newer++
		}
		h.sinkSeen[sink] = max(prev, o)
	}
}

// plan says when a run ends: SIGTERM and a plain unmount (last), a power
// cut after a time, or a power cut right after the n-th answered refresh.
type plan struct {
	last     bool
	after    time.Duration
	onAnswer int
}

// randomPlan is a cut at a random moment (start-up, idle, mid-write,
// mid-fsync) or right after one of the next 8 answers (racing the commit).
func randomPlan(rng *rand.Rand) plan {
	if rng.IntN(2) == 0 {
		return plan{after: time.Duration(rng.Int64N(int64(3 * time.Second)))}
	}
	return plan{onAnswer: 1 + rng.IntN(8)}
}

// cycle mounts the durable image, runs tokend and ends it as p says.
func (h *harness) cycle(p plan) {
	h.t.Helper()
	run := len(h.logs)
	h.snaps = append(h.snaps, h.inspect(true))
	if err := h.vfs.Mount(); err != nil {
		h.t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(h.bin, "run", "--config", h.cfg)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
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
	case p.last:
		wait(4 * time.Second)
		_ = proc.Signal(syscall.SIGTERM)
		if !wait(30 * time.Second) {
			h.t.Fatalf("tokend did not stop on SIGTERM:\n%s", stderr.String())
		}
	case p.onAnswer == 0:
		h.random++
		wait(p.after)
		_ = proc.Signal(syscall.SIGKILL)
		<-exited
	default:
		h.onAnsw++
		h.tap.arm(p.onAnswer)
		if !wait(6 * time.Second) {
			_ = proc.Signal(syscall.SIGKILL)
			<-exited
		}
	}
	h.tap.arm(0)
	h.tap.settle()
	h.logs = append(h.logs, stderr.String())
	if p.last {
		if err := h.vfs.Close(); err != nil {
			h.t.Fatal(err)
		}
		return
	}
	if err := h.vfs.PowerCut(); err != nil {
		h.t.Fatal(err)
	}
	h.checkSinks()
}

// TestPowerCut cuts the power under tokend at random moments while it
// rotates single-use refresh tokens with its store and sinks on the volatile
// file system, and checks the ledger after every cut and at the end.
func TestPowerCut(t *testing.T) {
	h := newHarness(t)
	t.Cleanup(func() { _ = h.vfs.Close() })
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("random seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	start := time.Now()
	deadline := start.Add(*budgetFlag)
	for {
		cuts := h.vfs.Counts().Cuts
		minimums := accepted(h.tap.entries()) >= *rotationsFlag && cuts >= *cutsFlag
		if minimums && (cuts >= *moreCutsFlag || time.Since(start) > *aimFlag) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d rotations and %d of %d power cuts within %v",
				accepted(h.tap.entries()), *rotationsFlag, h.vfs.Counts().Cuts, *cutsFlag, *budgetFlag)
		}
		h.cycle(randomPlan(rng))
		if t.Failed() {
			t.FailNow()
		}
	}
	h.cycle(plan{last: true})
	f := analyse(h, h.inspect(false))
	c := h.vfs.Counts()
	st := h.p.Stats()
	t.Logf("power-cut figures: runs=%d cuts=%d (random=%d after-answer=%d) rotations=%d provider_reuses=%d "+
		"losses=%d in_window=%d reported=%d reuses_outside_window=%d reseeded=%d | "+
		"sinks after cuts: absent-never-written=%d unchanged=%d newer=%d empty=%d torn=%d older=%d | "+
		"fs: file_fsyncs=%d dir_fsyncs=%d entries_dropped=%d files_reverted=%d files_restored_empty=%d %v",
		len(h.logs), c.Cuts, h.random, h.onAnsw, f.rotations, st.Reuses,
		f.losses, f.inWindow, f.reported, f.badReuse, h.reseeds,
		h.sinks.absent, h.sinks.unchanged, h.sinks.newer, h.sinks.empty, h.sinks.foreign, h.sinks.older,
		c.FileSyncs, c.DirSyncs, c.DroppedEntries, c.RevertedFiles, c.NeverSynced, c.EmptyNames)
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

// TestPowerCutCatchesLyingDisk is the negative control: the same harness on
// a disk that acknowledges fsync of files without keeping their data (after
// a first honest run) — tokend.db and the sink files — must find refresh
// tokens reused outside the window and empty sinks (the renames reached the
// disk, the data did not). It shows the volatile layer really drops what was
// never made durable, and that the checks see it.
func TestPowerCutCatchesLyingDisk(t *testing.T) {
	h := newHarness(t)
	t.Cleanup(func() { _ = h.vfs.Close() })
	var found []string
	h.errorf = func(format string, args ...any) { found = append(found, fmt.Sprintf(format, args...)) }
	h.cycle(plan{after: 3 * time.Second})
	h.vfs.LieAboutFsync(func(rel string) bool {
		return rel == filepath.Join("state", "tokend.db") || filepath.Dir(rel) == "sinks"
	})
	h.cycle(plan{after: 3 * time.Second})
	h.cycle(plan{last: true})
	f := analyse(h, h.inspect(false))
	t.Logf("lying disk: rotations=%d reuses_outside_window=%d provider_reuses=%d empty_sinks=%d findings=%d",
		f.rotations, f.badReuse, h.p.Stats().Reuses, h.sinks.empty, len(found))
	if f.badReuse == 0 {
		t.Errorf("a disk that drops fsynced store writes went unnoticed: %d findings", len(found))
	}
	if h.sinks.empty == 0 {
		t.Errorf("a disk that drops fsynced sink data went unnoticed: %d findings", len(found))
	}
}
