package daemon

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/fakeprovider"
	"github.com/tokend/tokend/internal/logging"
	"github.com/tokend/tokend/internal/scheduler"
)

// providerChildEnv, when set in the environment of this test binary, makes
// it a fake provider process (TestMain) instead of running tests: the
// rotation cost benchmark keeps the provider's CPU and allocations out of
// the process it measures.
const providerChildEnv = "TOKEND_TEST_PROVIDER_CHILD"

func TestMain(m *testing.M) {
	if n := os.Getenv(providerChildEnv); n != "" {
		os.Exit(runProviderChild(n, os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}

// runProviderChild serves a strict fake provider on 127.0.0.1 with client
// "app" and prints its base URL, then one fresh refresh token per line for
// each of the n credentials. It serves until in reaches EOF, then prints the
// number of refresh-token reuses it saw and returns.
func runProviderChild(n string, in io.Reader, out io.Writer) int {
	count, err := strconv.Atoi(n)
	if err != nil {
		fmt.Fprintln(out, "error:", err)
		return 2
	}
	p, err := fakeprovider.New(fakeprovider.Options{AccessTTL: time.Hour})
	if err != nil {
		fmt.Fprintln(out, "error:", err)
		return 2
	}
	p.AddClient("app", "app-secret")
	base, err := p.Start()
	if err != nil {
		fmt.Fprintln(out, "error:", err)
		return 2
	}
	defer p.Close()
	fmt.Fprintln(out, base)
	for range count {
		fmt.Fprintln(out, p.IssueRefreshToken("app", "read"))
	}
	_, _ = io.Copy(io.Discard, in)
	fmt.Fprintln(out, p.Stats().Reuses)
	return 0
}

// providerChild is a running runProviderChild process.
type providerChild struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
	base  string
	rts   []string
}

func startProviderChild(tb testing.TB, creds int) *providerChild {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), providerChildEnv+"="+strconv.Itoa(creds))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	c := &providerChild{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	for i := 0; i <= creds; i++ {
		if !c.out.Scan() || strings.HasPrefix(c.out.Text(), "error:") {
			_ = stdin.Close()
			_ = cmd.Wait()
			tb.Fatalf("provider child: %q %v", c.out.Text(), c.out.Err())
		}
		if i == 0 {
			c.base = c.out.Text()
		} else {
			c.rts = append(c.rts, c.out.Text())
		}
	}
	return c
}

// stop ends the child and returns how many refresh-token reuses it saw.
func (c *providerChild) stop(tb testing.TB) int {
	tb.Helper()
	_ = c.stdin.Close()
	reuses := -1
	if c.out.Scan() {
		reuses, _ = strconv.Atoi(c.out.Text())
	}
	if err := c.cmd.Wait(); err != nil {
		tb.Errorf("provider child: %v", err)
	}
	return reuses
}

// genWaiter tracks the generation each credential's first sink holds.
type genWaiter struct {
	mu   sync.Mutex
	gens map[string]uint64
	wake chan struct{}
}

func (g *genWaiter) RefreshFinished(string, time.Duration, error) {}
func (g *genWaiter) SinkWritten(string, string, error)            {}
func (g *genWaiter) StatusChanged(st scheduler.CredentialStatus) {
	if len(st.Sinks) == 0 || !st.Sinks[0].OK {
		return
	}
	g.mu.Lock()
	if st.Sinks[0].Generation > g.gens[st.Name] {
		g.gens[st.Name] = st.Sinks[0].Generation
	}
	g.mu.Unlock()
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// wait returns when every credential's sink holds generation >= gen.
func (g *genWaiter) wait(tb testing.TB, names []string, gen uint64) {
	deadline := time.After(time.Minute)
	for {
		g.mu.Lock()
		done := true
		for _, n := range names {
			if g.gens[n] < gen {
				done = false
				break
			}
		}
		g.mu.Unlock()
		if done {
			return
		}
		select {
		case <-g.wake:
		case <-deadline:
			tb.Fatalf("credentials did not reach generation %d within a minute", gen)
		}
	}
}

func cpuUsed() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRotationCost measures what one rotation costs the daemon process:
// CPU time (user + system, from getrusage) and allocations per rotation,
// through the production wiring (config, bbolt store with group commit,
// grants client over loopback HTTP, file sinks with the shared directory
// fsync, JSON log lines at info level). The strict fake provider runs in a
// child process so its own work is not counted. Each op refreshes every
// credential once (RefreshNow) and waits until every sink holds the new
// generation; creds > 1 runs those rotations concurrently, like a burst.
// Sinks are written on tmpfs (/dev/shm) when there is one, the state store
// in the test's temporary directory.
//
//	go test -run '^$' -bench BenchmarkRotationCost -benchtime 2000x ./internal/daemon/
func BenchmarkRotationCost(b *testing.B) {
	for _, creds := range []int{1, 32} {
		b.Run(fmt.Sprintf("creds=%d", creds), func(b *testing.B) { benchRotationCost(b, creds) })
	}
}

func benchRotationCost(b *testing.B, creds int) {
	b.StopTimer()
	prov := startProviderChild(b, creds)
	dir := b.TempDir()
	sinkDir := dir
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "tokend-rotation-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = os.RemoveAll(d) })
		sinkDir = d
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "[state]\ndir = %q\n[scheduler]\nmax_concurrent = %d\n", filepath.Join(dir, "state"), creds)
	names := make([]string, creds)
	for i := range names {
		names[i] = fmt.Sprintf("app%03d", i)
		rt := filepath.Join(dir, names[i]+".rt")
		if err := os.WriteFile(rt, []byte(prov.rts[i]), 0o600); err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(&cfg, `
[[credential]]
name = %q
token_url = "%s/token"
client_id = "app"
client_secret = "app-secret"
refresh_token_file = %q
  [[credential.sink]]
  type = "file"
  format = "json"
  path = %q
`, names[i], prov.base, rt, filepath.Join(sinkDir, names[i]+".json"))
	}
	c, err := config.Decode([]byte(cfg.String()))
	if err != nil {
		b.Fatal(err)
	}
	if err := c.ResolveSecrets(); err != nil {
		b.Fatal(err)
	}
	log, err := logging.NewWith(io.Discard, logging.Options{Level: "info", Format: logging.FormatJSON})
	if err != nil {
		b.Fatal(err)
	}
	obs := &genWaiter{gens: map[string]uint64{}, wake: make(chan struct{}, 1)}
	d, err := New(c, log, scheduler.Options{Observer: obs, MinInterval: time.Nanosecond})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	obs.wait(b, names, 1) // the first refresh at start-up
	gen := uint64(1)
	refreshAll := func() {
		gen++
		for _, n := range names {
			if err := d.Scheduler().RefreshNow(n); err != nil {
				b.Fatal(err)
			}
		}
		obs.wait(b, names, gen)
	}
	for range 3 { // warm up: connections, buffers, bbolt pages
		refreshAll()
	}
	b.ReportAllocs()
	b.ResetTimer()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	cpu0 := cpuUsed()
	b.StartTimer()
	for range b.N {
		refreshAll()
	}
	b.StopTimer()
	cpu := cpuUsed() - cpu0
	runtime.ReadMemStats(&m1)
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	if reuses := prov.stop(b); reuses != 0 {
		b.Fatalf("the provider saw %d refresh-token reuses", reuses)
	}
	rotations := float64(b.N * creds)
	b.ReportMetric(float64(cpu.Microseconds())/rotations, "cpu-us/rotation")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/rotations, "wall-us/rotation")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/rotations, "allocs/rotation")
	b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/rotations, "B/rotation")
}
