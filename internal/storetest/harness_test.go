package storetest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/fakeprovider"
	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/testkit"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// tokendBin builds cmd/tokend once per test binary.
func tokendBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tokend-storetest-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "tokend")
		out, err := exec.Command("go", "build", "-o", binPath, "../../cmd/tokend").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

var creds = []string{"c0", "c1"}

// harness is one tokend setup: a strict rotating provider on 127.0.0.1,
// two credentials seeded from refresh_token_file, file sinks.
type harness struct {
	t     *testing.T
	bin   string
	dir   string
	state string
	cfg   string
	p     *fakeprovider.Provider
}

func newHarness(t *testing.T, ttl time.Duration) *harness { return newWrappedHarness(t, ttl, nil) }

// newWrappedHarness serves the provider through wrap (nil: as it is).
func newWrappedHarness(t *testing.T, ttl time.Duration, wrap func(http.Handler) http.Handler) *harness {
	h := &harness{t: t, bin: tokendBin(t), dir: t.TempDir()}
	h.state = filepath.Join(h.dir, "state")
	var err error
	h.p, err = fakeprovider.New(fakeprovider.Options{AccessTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	var handler http.Handler = h.p.Handler()
	if wrap != nil {
		handler = wrap(handler)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	base := srv.URL
	cfg := testkit.Config{StateDir: h.state}
	for _, c := range creds {
		h.p.AddClient(c, "secret-"+c)
		rt := filepath.Join(h.dir, c+".rt")
		if err := os.WriteFile(rt, []byte(h.p.IssueRefreshToken(c, "read")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.Credentials = append(cfg.Credentials, testkit.Credential{Name: c, TokenURL: base + "/token", ClientID: c,
			ClientSecret: "secret-" + c, RefreshTokenFile: rt, Sinks: []testkit.Sink{{Type: "file", Path: h.sink(c)}}})
	}
	h.cfg = filepath.Join(h.dir, "tokend.toml")
	if err := os.WriteFile(h.cfg, []byte(cfg.TOML()), 0o600); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) sink(c string) string { return filepath.Join(h.dir, c+".token") }
func (h *harness) db() string           { return filepath.Join(h.state, "tokend.db") }

// proc is one running tokend.
type proc struct {
	cmd    *exec.Cmd
	stderr *syncBuf
	exited chan struct{}
	code   int
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (h *harness) start() *proc {
	h.t.Helper()
	p := &proc{stderr: &syncBuf{}, exited: make(chan struct{})}
	p.cmd = exec.Command(h.bin, "run", "--config", h.cfg)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.exited)
	}()
	h.t.Cleanup(func() { _ = p.cmd.Process.Kill(); <-p.exited })
	return p
}

// stop sends SIGTERM and returns the exit code.
func (p *proc) stop(t *testing.T) int {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(40 * time.Second):
		t.Fatalf("tokend did not stop on SIGTERM:\n%s", p.stderr)
	}
	return p.code
}

// wait returns the exit code once tokend exits by itself within d (-1: still running).
func (p *proc) wait(d time.Duration) int {
	select {
	case <-p.exited:
		return p.code
	case <-time.After(d):
		return -1
	}
}

// until polls cond every 50 ms for up to d.
func until(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// runUntilDelivered runs tokend until every sink holds a token the provider
// considers active, then stops it.
func (h *harness) runUntilDelivered() string {
	h.t.Helper()
	p := h.start()
	ok := until(30*time.Second, func() bool {
		if !strings.Contains(p.stderr.String(), "scheduler started") {
			return false // signal handlers are in place once the scheduler runs
		}
		for _, c := range creds {
			b, err := os.ReadFile(h.sink(c))
			if err != nil || !h.p.ActiveAccessToken(strings.TrimSpace(string(b))) {
				return false
			}
		}
		return true
	})
	if !ok {
		h.t.Fatalf("sinks not delivered:\n%s", p.stderr)
	}
	if code := p.stop(h.t); code != 0 {
		h.t.Fatalf("tokend exited %d:\n%s", code, p.stderr)
	}
	return p.stderr.String()
}

// records reads the stopped tokend's store.
func (h *harness) records() map[string]state.Record {
	h.t.Helper()
	st, err := state.Open(h.state, state.Options{LockTimeout: 5 * time.Second})
	if err != nil {
		h.t.Fatalf("opening the store: %v", err)
	}
	defer st.Close()
	recs, err := st.List(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	m := map[string]state.Record{}
	for _, r := range recs {
		m[r.Credential] = r
	}
	return m
}

// assertLive checks the store holds each credential's live refresh token
// of the newest family, and that there are families live.
func (h *harness) assertLive(families int) {
	h.t.Helper()
	recs := h.records()
	for _, c := range creds {
		live := h.p.CurrentRefreshToken(c)
		if len(live) != families || recs[c].RefreshToken.Reveal() != live[len(live)-1] {
			h.t.Errorf("%s: the store does not hold the provider's live refresh token (%d live families, want %d)", c, len(live), families)
		}
	}
}

// storeCmd runs `tokend store ...` and returns its exit code and output.
func (h *harness) storeCmd(args ...string) (int, string) {
	cmd := exec.Command(h.bin, append([]string{"store"}, args...)...)
	out, _ := cmd.CombinedOutput()
	return cmd.ProcessState.ExitCode(), string(out)
}

// refusesToStart runs tokend on a damaged store: it must exit with
// state.ExitStoreDamaged, say why with the path and the recovery command,
// never panic or fault, and send nothing to the provider.
func (h *harness) refusesToStart(want string) {
	h.t.Helper()
	before := h.p.Stats().TokenRequests
	p := h.start()
	code := p.wait(20 * time.Second)
	log := p.stderr.String()
	if code != state.ExitStoreDamaged {
		h.t.Fatalf("tokend on a damaged store: exit %d, want %d:\n%s", code, state.ExitStoreDamaged, log)
	}
	for _, s := range []string{h.db(), want, "tokend store restore"} {
		if !strings.Contains(log, s) {
			h.t.Errorf("the log does not say %q:\n%s", s, log)
		}
	}
	for _, bad := range []string{"panic", "fatal error", "SIGBUS", "goroutine "} {
		if strings.Contains(log, bad) {
			h.t.Errorf("the log shows %q:\n%s", bad, log)
		}
	}
	if n := h.p.Stats().TokenRequests - before; n != 0 {
		h.t.Errorf("tokend sent %d token requests on a damaged store", n)
	}
}
