// Package bench measures tokend at scale against a strict fake provider on
// 127.0.0.1: footprint and start-up of a daemon child process holding N
// credentials, a burst of N durable rotations against a naive x/oauth2 +
// os.WriteFile baseline, and the timeliness of staggered refreshes. It is
// driven by cmd/tokend-bench and by a smoke test in the default test run.
package bench

import (
	"fmt"
	"path/filepath"
	"slices"
	"time"
)

// Options sizes a run. Zero values are not defaulted: cmd/tokend-bench sets
// them from flags.
type Options struct {
	// Daemon is the command that runs the daemon; the bench appends
	// "--config FILE --log-level info" and sets DaemonEnv=1 in its
	// environment. E.g. {"/usr/bin/tokend", "run"}, or {os.Args[0]} for a
	// binary that calls RunDaemon when DaemonEnv is set.
	Daemon        []string
	Dir           string        // scratch directory (state, sinks, seeds); should be on the disk under test
	SinkDir       string        // where sink files (and the baselines' files) go instead; "" = under Dir
	EnvFiles      int           // > 0: footprint and burst credentials write env-files, shared round-robin, instead of a JSON file each
	N             int           // credentials for footprint and burst
	SmallN        int           // second, smaller footprint run for the per-credential slope; 0 skips it
	MaxConcurrent int           // tokend [scheduler] max_concurrent and the baseline's worker count
	Rounds        int           // paired baseline+burst rounds at N (the ratio is their median); 0 = 1
	Idle          time.Duration // idle window for CPU
	TimelyN       int           // credentials in the timeliness phase; 0 skips it
	TimelyFor     time.Duration // how long the timeliness phase runs after the first refreshes
	MinTTL        time.Duration // timeliness access-token lifetimes are spread over [MinTTL, MaxTTL]
	MaxTTL        time.Duration
	Progress      func(format string, args ...any) // optional progress lines
	// Sink is the footprint and burst credentials' sink: "" or "file" (a
	// JSON file each, or EnvFiles), or "vault": a KV v2 secret each on a
	// Vault dev server (VaultBin) started for the run, reached through a
	// counting proxy.
	Sink     string
	VaultBin string // the vault binary (FindTool("TOKEND_VAULT_BIN", "vault-bin"))
	// VaultRaft runs every Vault server of the run (sinks, peer) with
	// durable Raft storage instead of the dev server's memory.
	VaultRaft bool
	// Peer, if "oauthapp", adds the side-by-side comparison with Vault's
	// oauthapp plugin (peer.go) after the other phases; PeerN credentials
	// (0: skip), access tokens of PeerTTL, observed for PeerFor.
	Peer        string
	OAuthAppBin string // the plugin binary (FindTool("TOKEND_OAUTHAPP_BIN", "oauthapp-bin"))
	PeerN       int
	PeerTTL     time.Duration
	PeerFor     time.Duration
	// PeerCheckInterval is the plugin's tune_refresh_check_interval_seconds
	// (0: its default, 60 s).
	PeerCheckInterval time.Duration
}

func (o Options) sinkDir() string {
	if o.SinkDir != "" {
		return o.SinkDir
	}
	return o.Dir
}

// Footprint is one daemon holding N stored credentials.
type Footprint struct {
	N        int
	Burst    time.Duration // first to last durable rotation when all N were due at once
	BurstRPS float64       // durable rotations per second
	BurstCPU time.Duration // daemon CPU time (user+system) from exec to the end of the burst
	Startup  time.Duration // exec to /readyz 200 with N stored credentials
	RSS      int64         // bytes, after start-up has settled
	IdleCPU  float64       // fraction of one core over the idle window
	// With vault sinks: the Vault server's CPU time from the daemon's exec
	// to the end of the burst, and the requests it got (through the
	// counting proxy) before the scheduler started (start-up checks) and
	// after (the burst's sink writes).
	VaultCPU                       time.Duration
	VaultStartReqs, VaultBurstReqs int
}

// Round is one baseline run followed at once by one tokend burst of the same
// size: the pair shares the machine's conditions of that moment.
type Round struct {
	BaselineRPS float64 // x/oauth2 + os.WriteFile, no fsync, no state
	DurableRPS  float64 // the same with each file written durably (the floor)
	TokendRPS   float64

	// GroupRPS is the durable baseline plus one bbolt put per rotation,
	// group-committed (floor.go): the floor for a durable state store.
	GroupRPS float64
}

// Ratio is the round's tokend/baseline throughput.
func (r Round) Ratio() float64 { return r.TokendRPS / r.BaselineRPS }

// FloorRatio is the round's tokend/durable-baseline throughput.
func (r Round) FloorRatio() float64 { return r.TokendRPS / r.DurableRPS }

// GroupRatio is the round's tokend/group-commit-floor throughput.
func (r Round) GroupRatio() float64 { return r.TokendRPS / r.GroupRPS }

// Result is one run.
type Result struct {
	Opts        Options
	Big, Small  *Footprint // Small nil without SmallN
	Rounds      []Round    // paired rounds at N, in order; Big's burst is the last one
	BaselineRPS float64    // median over Rounds
	DurableRPS  float64    // median over Rounds
	Reuses      int        // refresh tokens presented twice, over every phase (must be 0)
	BadSinks    int        // sink files with a missing, expired or inactive token at the end of a phase
	Late        []time.Duration
	Expired     int // sink observations of an expired or inactive token during timeliness
	Checks      int // sink observations made during timeliness
	Refreshes   int // scheduled refreshes seen in the timeliness phase

	GroupRPS float64      // the group-commit floor, median over Rounds
	Peer     *Peer        // the oauthapp comparison (Opts.Peer)
	vault    *vaultServer // the sinks' Vault with Opts.Sink "vault"
}

// Run performs the phases in order: footprint(SmallN), Rounds paired
// baseline+burst rounds at N followed by footprint(N) on the last round's
// daemon state, timeliness, and the Peer comparison. With N = 0 it runs the
// Peer comparison alone.
func Run(o Options) (*Result, error) {
	if len(o.Daemon) == 0 || (o.N <= 0 && o.Peer == "") || o.MaxConcurrent <= 0 {
		return nil, fmt.Errorf("bench: Daemon, N (or Peer) and MaxConcurrent are required")
	}
	if o.Progress == nil {
		o.Progress = func(string, ...any) {}
	}
	o.Rounds = max(o.Rounds, 1)
	if o.N <= 0 { // the peer comparison alone
		o.Rounds, o.SmallN, o.TimelyN = 0, 0, 0
	}
	r := &Result{Opts: o}
	var err error
	if o.Sink == "vault" {
		if o.VaultBin == "" {
			return nil, errNoVault
		}
		if r.vault, err = startVault(o.VaultBin, filepath.Join(o.Dir, "vault-sinks"), "", o.VaultRaft); err != nil {
			return nil, err
		}
		defer r.vault.stop()
	} else if o.Sink != "" && o.Sink != "file" {
		return nil, fmt.Errorf("bench: unknown sink %q (file, vault)", o.Sink)
	}
	if o.SmallN > 0 {
		if r.Small, err = r.footprint(o.SmallN, "small", true); err != nil {
			return nil, err
		}
	}
	var bases, floors, groups []float64
	for i := range o.Rounds {
		o.Progress("round %d/%d: baseline, %d x/oauth2 refreshes + os.WriteFile, %d workers", i+1, o.Rounds, o.N, o.MaxConcurrent)
		quiesce()
		b, err := baseline(filepath.Join(o.sinkDir(), fmt.Sprintf("baseline-%d", i)), o.N, o.MaxConcurrent, false)
		if err != nil {
			return nil, err
		}
		o.Progress("round %d/%d: durable baseline (fsync'd files)", i+1, o.Rounds)
		quiesce()
		db, err := baseline(filepath.Join(o.sinkDir(), fmt.Sprintf("durable-%d", i)), o.N, o.MaxConcurrent, true)
		if err != nil {
			return nil, err
		}
		o.Progress("round %d/%d: group-commit floor (fsync'd files + one group-committed bbolt put each)", i+1, o.Rounds)
		quiesce()
		gb, err := groupFloor(filepath.Join(o.sinkDir(), fmt.Sprintf("group-%d", i)), o.N, o.MaxConcurrent)
		if err != nil {
			return nil, err
		}
		if r.Big, err = r.footprint(o.N, fmt.Sprintf("big-%d", i), i == o.Rounds-1); err != nil {
			return nil, err
		}
		r.Rounds = append(r.Rounds, Round{BaselineRPS: b, DurableRPS: db, GroupRPS: gb, TokendRPS: r.Big.BurstRPS})
		bases, floors, groups = append(bases, b), append(floors, db), append(groups, gb)
		o.Progress("round %d/%d: baseline %.0f/s, durable baseline %.0f/s, group-commit floor %.0f/s, tokend %.0f/s, ratio %.2f (to the durable baseline %.2f, to the floor %.2f)",
			i+1, o.Rounds, b, db, gb, r.Big.BurstRPS, r.Rounds[i].Ratio(), r.Rounds[i].FloorRatio(), r.Rounds[i].GroupRatio())
	}
	r.BaselineRPS, r.DurableRPS, r.GroupRPS = median(bases), median(floors), median(groups)
	if o.TimelyN > 0 {
		if err := r.timeliness(); err != nil {
			return nil, err
		}
	}
	if o.Peer != "" {
		if r.Peer, err = runPeer(o); err != nil {
			return nil, fmt.Errorf("peer %s: %w", o.Peer, err)
		}
	}
	return r, nil
}

// footprint seeds n credentials, lets the daemon rotate them all at once
// (the burst), and with full set restarts it with n stored credentials and
// measures start-up, RSS and idle CPU.
func (r *Result) footprint(n int, tag string, full bool) (*Footprint, error) {
	o := r.Opts
	prov, err := newProvider(24 * time.Hour)
	if err != nil {
		return nil, err
	}
	defer prov.p.Close()
	s, err := writeSetup(filepath.Join(o.Dir, tag), filepath.Join(o.sinkDir(), tag), n, o.MaxConcurrent, o.EnvFiles, []*provider{prov}, r.vault)
	if err != nil {
		return nil, err
	}
	f := &Footprint{N: n}
	o.Progress("burst: %d credentials due at once", n)
	quiesce()
	var vcpu0 time.Duration
	if r.vault != nil {
		if vcpu0, err = treeCPU(r.vault.pid()); err != nil {
			return nil, err
		}
	}
	c, err := startChild(o.Daemon, s.config, 2)
	if err != nil {
		return nil, err
	}
	if err := c.waitRefreshed(n, 10*time.Minute); err != nil {
		_ = c.stop()
		return nil, fmt.Errorf("burst: %w", err)
	}
	if f.BurstCPU, err = cpuTime(c.cmd.Process.Pid); err != nil {
		_ = c.stop()
		return nil, err
	}
	_, schedAt, lastAt := c.counts()
	if r.vault != nil {
		vcpu1, err := treeCPU(r.vault.pid())
		if err != nil {
			_ = c.stop()
			return nil, err
		}
		f.VaultCPU = vcpu1 - vcpu0
		f.VaultStartReqs = r.vault.requests(c.started, schedAt)
		f.VaultBurstReqs = r.vault.requests(schedAt, lastAt.Add(time.Millisecond))
	}
	f.Burst = lastAt.Sub(schedAt)
	f.BurstRPS = float64(n) / f.Burst.Seconds()
	if err := c.stop(); err != nil {
		return nil, fmt.Errorf("stopping after the burst: %w", err)
	}
	if !full {
		return f, r.check(s, prov, n)
	}

	o.Progress("start-up with %d stored credentials, then %s idle", n, o.Idle)
	if c, err = startChild(o.Daemon, s.config, 2); err != nil {
		return nil, err
	}
	defer func() { _ = c.stop() }()
	if f.Startup, err = c.waitReady(s.status, time.Minute); err != nil {
		return nil, fmt.Errorf("start-up: %w", err)
	}
	pid := c.cmd.Process.Pid
	settle(pid, time.Minute)
	if f.RSS, err = rss(pid); err != nil {
		return nil, err
	}
	cpu0, err := cpuTime(pid)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	time.Sleep(o.Idle)
	cpu1, err := cpuTime(pid)
	if err != nil {
		return nil, err
	}
	f.IdleCPU = (cpu1 - cpu0).Seconds() / time.Since(t0).Seconds()
	if got, _, _ := c.counts(); got != 0 {
		return nil, fmt.Errorf("the restarted daemon refreshed %d long-lived tokens", got)
	}
	if err := c.stop(); err != nil {
		return nil, fmt.Errorf("stopping after idle: %w", err)
	}
	return f, r.check(s, prov, n)
}

// check counts bad sinks and refresh-token reuses after a footprint phase,
// and fails unless the provider saw exactly n refreshes.
func (r *Result) check(s *setup, prov *provider, n int) error {
	bad, first := s.checkSinks()
	r.BadSinks += bad
	if bad > 0 {
		r.Opts.Progress("%d bad sinks, first: %v", bad, first)
	}
	st := prov.p.Stats()
	r.Reuses += st.Reuses
	if st.Refreshes != n {
		return fmt.Errorf("provider saw %d refreshes; want %d", st.Refreshes, n)
	}
	return nil
}

// median of xs (mean of the middle two for an even count); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// timeliness runs TimelyN credentials with lifetimes spread over
// [MinTTL, MaxTTL] for TimelyFor, checking every sink twice a second.
func (r *Result) timeliness() error {
	o := r.Opts
	const buckets = 5
	var provs []*provider
	for i := 0; i < buckets; i++ {
		ttl := o.MinTTL + time.Duration(i)*(o.MaxTTL-o.MinTTL)/(buckets-1)
		p, err := newProvider(ttl)
		if err != nil {
			return err
		}
		defer p.p.Close()
		provs = append(provs, p)
	}
	s, err := writeSetup(filepath.Join(o.Dir, "timely"), filepath.Join(o.sinkDir(), "timely"), o.TimelyN, o.MaxConcurrent, 0, provs, nil)
	if err != nil {
		return err
	}
	o.Progress("timeliness: %d credentials, lifetimes %s-%s, for %s", o.TimelyN, o.MinTTL, o.MaxTTL, o.TimelyFor)
	c, err := startChild(o.Daemon, s.config, 2) // generation 1 is the seed refresh at start-up
	if err != nil {
		return err
	}
	defer func() { _ = c.stop() }()
	if err := c.waitRefreshed(o.TimelyN, 5*time.Minute); err != nil {
		return fmt.Errorf("timeliness start: %w", err)
	}
	end := time.Now().Add(o.TimelyFor)
	for time.Now().Before(end) {
		bad, first := s.checkSinks()
		r.Checks += len(s.sinks)
		r.Expired += bad
		if bad > 0 {
			o.Progress("expired or inactive token in a sink: %v", first)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err := c.stop(); err != nil {
		return fmt.Errorf("stopping after timeliness: %w", err)
	}
	c.mu.Lock()
	r.Late = slices.Clone(c.late)
	r.Refreshes = len(c.late)
	c.mu.Unlock()
	for _, p := range provs {
		r.Reuses += p.p.Stats().Reuses
	}
	return nil
}
