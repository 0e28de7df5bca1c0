package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/sinks/envfile"
)

// TestMain lets the test binary serve as the daemon child: the bench starts
// os.Args[0] with DaemonEnv set.
func TestMain(m *testing.M) {
	if os.Getenv(DaemonEnv) != "" && len(os.Args) > 1 && os.Args[1] == "daemon" {
		os.Exit(RunDaemon(os.Args[2:], os.Stderr))
	}
	os.Exit(m.Run())
}

// TestSmoke runs every phase of the benchmark in a tiny configuration and
// checks that its outputs are sane: all rotations happened with no
// refresh-token reuse, every sink holds a token the provider considers
// active, no sink was seen holding an expired token, refreshes were
// observed with their lateness, and the table has every row.
func TestSmoke(t *testing.T) {
	r, err := Run(Options{
		Daemon: []string{os.Args[0], "daemon"}, Dir: t.TempDir(),
		N: 200, SmallN: 50, MaxConcurrent: 16, Rounds: 2, Idle: 500 * time.Millisecond,
		TimelyN: 40, TimelyFor: 4 * time.Second, MinTTL: 3 * time.Second, MaxTTL: 5 * time.Second,
		Progress: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Reuses != 0 || r.BadSinks != 0 || r.Expired != 0 {
		t.Fatalf("reuses %d, bad sinks %d, expired seen %d; want 0", r.Reuses, r.BadSinks, r.Expired)
	}
	if r.Checks == 0 || r.Refreshes == 0 || len(r.Late) != r.Refreshes {
		t.Fatalf("timeliness saw %d sink reads and %d scheduled refreshes (%d lateness values); want some", r.Checks, r.Refreshes, len(r.Late))
	}
	for _, f := range []*Footprint{r.Big, r.Small} {
		if f.BurstRPS <= 0 || f.Startup <= 0 || f.RSS < 1<<20 || f.IdleCPU < 0 || f.IdleCPU > 2 {
			t.Fatalf("implausible footprint %+v", *f)
		}
	}
	if r.BaselineRPS <= 0 || r.Ratio() <= 0 || len(r.Rounds) != 2 {
		t.Fatalf("baseline %.0f/s ratio %.2f over %d rounds; want 2 positive", r.BaselineRPS, r.Ratio(), len(r.Rounds))
	}
	for _, rd := range r.Rounds {
		if rd.BaselineRPS <= 0 || rd.TokendRPS <= 0 {
			t.Fatalf("implausible round %+v", rd)
		}
	}
	var b strings.Builder
	r.Print(&b)
	for _, want := range []string{"RSS after start-up, 200 credentials", "idle CPU", "start-up, 200 stored", "burst ratio tokend/baseline (median)", "paired rounds",
		"memory per credential", "lateness p99", "expired tokens seen in sinks", "refresh-token reuses"} {
		if !strings.Contains(b.String(), want) {
			t.Fatalf("table lacks %q:\n%s", want, b.String())
		}
	}
	t.Logf("\n%s", b.String())
}

func TestPercentile(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, ms(i))
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, ms(50)}, {99, ms(99)}, {100, ms(100)}, {0, ms(1)}} {
		if got := Percentile(ds, c.p); got != c.want {
			t.Errorf("p%.0f = %s; want %s", c.p, got, c.want)
		}
	}
	if Percentile(nil, 99) != 0 {
		t.Error("percentile of nothing should be 0")
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{0.9, 0.1, 0.5}, 0.5}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v; want %v", c.in, got, c.want)
		}
	}
}

// TestSmokeEnvFiles runs a round with the credentials sharing env-files: all
// rotate, every variable ends up holding a token the provider accepts.
func TestSmokeEnvFiles(t *testing.T) {
	r, err := Run(Options{
		Daemon: []string{os.Args[0], "daemon"}, Dir: t.TempDir(),
		N: 60, EnvFiles: 3, MaxConcurrent: 8, Rounds: 1, Idle: 200 * time.Millisecond,
		Progress: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Reuses != 0 || r.BadSinks != 0 || r.Big.BurstRPS <= 0 || len(r.Rounds) != 1 {
		t.Fatalf("reuses %d, bad sinks %d, burst %.0f/s, %d rounds", r.Reuses, r.BadSinks, r.Big.BurstRPS, len(r.Rounds))
	}
	for i := range 3 {
		vars, err := envfile.Parse(mustRead(t, filepath.Join(r.Opts.Dir, "big-0", "sinks", fmt.Sprintf("e%03d.env", i))))
		if err != nil || len(vars) != 20 {
			t.Fatalf("env-file %d: %d variables, %v; want 20", i, len(vars), err)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSmokeVaultSinks runs a round with Vault KV v2 sinks on a real Vault,
// a dev server and one with Raft storage: every rotation lands in Vault
// (checked against the provider), the counting proxy saw the burst's
// writes, the Vault process's CPU was read, and the round has its
// group-commit floor.
func TestSmokeVaultSinks(t *testing.T) {
	for _, raft := range []bool{false, true} {
		t.Run(fmt.Sprintf("raft=%v", raft), func(t *testing.T) { smokeVaultSinks(t, raft) })
	}
}

func smokeVaultSinks(t *testing.T, raft bool) {
	bin, err := FindTool("TOKEND_VAULT_BIN", "vault-bin")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Run(Options{
		Daemon: []string{os.Args[0], "daemon"}, Dir: t.TempDir(), Sink: "vault", VaultBin: bin, VaultRaft: raft,
		N: 100, MaxConcurrent: 8, Rounds: 1, Idle: 200 * time.Millisecond,
		Progress: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	b := r.Big
	if r.Reuses != 0 || r.BadSinks != 0 || b.BurstRPS <= 0 || b.Startup <= 0 {
		t.Fatalf("reuses %d, bad sinks %d, burst %.0f/s, start-up %s", r.Reuses, r.BadSinks, b.BurstRPS, b.Startup)
	}
	if b.VaultBurstReqs < b.N || b.VaultCPU <= 0 {
		t.Fatalf("Vault saw %d requests and used %s CPU in a burst of %d; want a write each and some CPU", b.VaultBurstReqs, b.VaultCPU, b.N)
	}
	if rd := r.Rounds[0]; rd.GroupRPS <= 0 || r.GroupRPS != rd.GroupRPS {
		t.Fatalf("group-commit floor %.0f/s (median %.0f/s); want positive", rd.GroupRPS, r.GroupRPS)
	}
	var out strings.Builder
	r.Print(&out)
	for _, want := range []string{"start-up, 100 stored, Vault sinks", "Vault server CPU per rotation", "Vault requests per rotation",
		"daemon CPU per rotation", "tokend/group-commit floor (median)"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("table lacks %q:\n%s", want, out.String())
		}
	}
	t.Logf("\n%s", out.String())
}
