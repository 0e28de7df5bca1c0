// Package daemon wires a validated config into a running tokend: it opens the
// state store, builds token sources and sinks, and runs the scheduler. It is
// shared by `tokend run`, `tokend demo` and in-process tests.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/discovery"
	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/sinks/kinds"
	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/vaultclient"
)

// Daemon is one running tokend.
type Daemon struct {
	cfg   *config.Config // running config without its credentials (setConfig); guarded by ops.cfgMu
	names []string       // running credentials' names; guarded by ops.cfgMu
	log   *zap.Logger
	store backend             // *state.FileStore or *vaultstore.Store (vault.go)
	vault *vaultclient.Client // nil without [vault]
	share *sinkShare          // what sinks share for the daemon's life (sinkshare.go); used under ops.reloadMu
	sched *scheduler.Scheduler
	ops   ops      // metrics, systemd, status server, reload (ops.go)
	proxy *proxies // auth-injecting proxies (proxies.go)
	// backedUp is closed when the start-up backup is done (start).
	backedUp chan struct{}
}

// New opens the state store (locking it against a second daemon), checks every
// sink's directory so a bad path fails now rather than at 3 a.m., builds
// the scheduler and opens the proxies' listeners. Errors name the credential and sink concerned.
func New(cfg *config.Config, log *zap.Logger, opts scheduler.Options) (*Daemon, error) {
	d := &Daemon{log: log, share: newSinkShare()}
	d.setConfig(cfg)
	d.prepareOps(&opts)
	d.proxy = newProxies(log.Named("proxy"), d, d.ops.metrics.NewProxy())
	opts.Observer = proxyObserver{Observer: opts.Observer, ps: d.proxy}
	var err error
	if d.vault, err = openVault(cfg, log); err != nil {
		return nil, err
	}
	if cfg.DiscoveryDeferred {
		return d.newDiscovering(cfg, opts)
	}
	creds, err := buildCredentials(cfg, d.hooks())
	if err != nil {
		return nil, err
	}
	d.share.apply()
	store, err := openStore(cfg, d.vault)
	if err != nil {
		return nil, fmt.Errorf("opening state store: %w", err)
	}
	return d.start(cfg, store, creds, opts)
}

// newDiscovering is New for a config whose issuer discovery was deferred
// (LoadOptions.DeferDiscovery): the store opens first, so that discovery
// can fall back to the metadata kept there (discover.go).
func (d *Daemon) newDiscovering(cfg *config.Config, opts scheduler.Options) (*Daemon, error) {
	store, err := openStore(cfg, d.vault)
	if err != nil {
		return nil, fmt.Errorf("opening state store: %w", err)
	}
	meta, _ := store.(discovery.Store) // both backends keep metadata; a test backend may not
	hw := d.hooks()
	hw.meta, hw.discLog = meta, d.log.Named("discovery")
	if hw.pending, err = discoverDeferred(context.Background(), cfg, meta, hw.discLog, time.Now); err != nil {
		_ = store.Close()
		return nil, err
	}
	creds, err := buildCredentials(cfg, hw)
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	d.share.apply()
	return d.start(cfg, store, creds, opts)
}

// start builds the scheduler over the open store and starts the ops; it
// closes the store when it fails.
func (d *Daemon) start(cfg *config.Config, store backend, creds []scheduler.Credential, opts scheduler.Options) (*Daemon, error) {
	log := d.log
	opts.Store = store
	opts.Logger = log.Named("scheduler")
	if opts.MaxConcurrent == 0 {
		opts.MaxConcurrent = cfg.Scheduler.MaxConcurrent
	}
	if opts.ClaimTTL == 0 {
		opts.ClaimTTL = cfg.State.ClaimTTL.Duration // zero with the file backend: no claims
	}
	if opts.ShutdownGrace == 0 {
		opts.ShutdownGrace = cfg.Scheduler.ShutdownGrace.Duration
	}
	if opts.ProviderLimit == nil {
		opts.ProviderLimit = providerLimits(cfg.Scheduler)
	}
	d.backedUp = make(chan struct{})
	opts.OnStarted = chain(func() { <-d.backedUp }, opts.OnStarted)
	// The config load's garbage and the start-up round's (records decoded,
	// sinks checked) go back to the OS once that round is over, not in line
	// before the records load: that forced GC took 0.2 s of start-up with
	// 50,000 credentials (docs/performance.md, "Start-up at scale").
	opts.OnSettled = chain(releaseTransientMemory, opts.OnSettled)
	sched, err := scheduler.New(opts, creds)
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	log.Info("state store open", zap.String("path", store.Path()), zap.Int("credentials", len(creds)))
	d.store, d.sched = store, sched
	pl, err := d.proxy.plan(cfg)
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	d.proxy.commit(pl)
	// The file opened cleanly: keep a copy to go back to. It is taken while
	// the scheduler loads the records (the daemon can be ready meanwhile),
	// and the scheduler's first job waits for it (Options.OnStarted), so it
	// is still the store as it opened. In line, it took 0.5 s of start-up
	// with 50,000 credentials (docs/performance.md, "Start-up at scale").
	go func() {
		defer close(d.backedUp)
		d.backupStore("start-up")
	}()
	if err := d.startOps(); err != nil {
		d.proxy.closeAll()
		<-d.backedUp
		_ = store.Close()
		return nil, err
	}
	return d, nil
}

// releaseTransientMemory returns the heap that loading and building a config
// (and, at start-up, the start-up round: scheduler.Options.OnSettled) used
// in passing to the OS at once (a forced GC and scavenge), instead of
// whenever the runtime's background scavenger gets to it. Loading a large
// config allocates several times what stays live (the TOML decoder's tree of
// the whole file); without this, RSS stayed near the transient peak for a
// while after start-up or reload (docs/performance.md, "Figures behind the code").
func releaseTransientMemory() { debug.FreeOSMemory() }

// Run refreshes credentials until ctx ends, then shuts down cleanly and
// closes the state store.
func (d *Daemon) Run(ctx context.Context) error {
	stopOps := d.runOps(ctx)
	waitVault := d.runVault(ctx)
	waitBackups := d.runBackups(ctx)
	stopProxies := d.proxy.run(ctx)
	err := d.sched.Run(ctx)
	stopProxies()
	waitVault()
	waitBackups()
	err = errors.Join(err, stopOps())
	<-d.backedUp // a scheduler that failed at start-up did not wait for it
	if cerr := d.store.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("closing state store: %w", cerr))
	}
	return err
}

// Scheduler exposes the scheduler for status and admin endpoints.
func (d *Daemon) Scheduler() *scheduler.Scheduler { return d.sched }

// Store exposes the file state store (bootstrap commands write through it);
// nil with the vault backend.
func (d *Daemon) Store() *state.FileStore { s, _ := d.store.(*state.FileStore); return s }

// BuildCredentials turns the config into scheduler credentials (token
// sources, sinks with their start-up checks, schedules), collecting every
// problem. Reload uses it to build the new set.
func BuildCredentials(cfg *config.Config) ([]scheduler.Credential, error) {
	return buildCredentials(cfg, hookWiring{})
}

func buildCredentials(cfg *config.Config, hw hookWiring) ([]scheduler.Credential, error) {
	var errs []error
	shared := newBuildCache(cfg, hw.share)
	shared.env.Vault = hw.vault
	prepareSinks(cfg, shared.env)
	out := make([]scheduler.Credential, 0, len(cfg.Credentials))
	for i := range cfg.Credentials {
		cr := &cfg.Credentials[i]
		c, err := buildCredential(cr, shared, hw)
		if err != nil { // one line per problem, each naming the credential once
			prefix := fmt.Sprintf("credential %q: ", cr.Name)
			for _, e := range config.Problems(err) {
				if !strings.HasPrefix(e.Error(), prefix) { // grants.New names it already
					e = fmt.Errorf("%s%w", prefix, e)
				}
				errs = append(errs, e)
			}
			continue
		}
		out = append(out, c)
	}
	shared.share.record(shared.vars)
	return out, errors.Join(errs...)
}

func buildCredential(cr *config.Credential, shared *buildCache, hw hookWiring) (scheduler.Credential, error) {
	gc := cr.GrantsConfig()
	if gc.HTTPClient == nil {
		gc.HTTPClient = shared.http // one connection pool for all credentials
	}
	gc.CredentialToken = hw.tokens // token_exchange's subject_credential (subjects.go)
	gc.TokenURL, gc.ClientID = shared.intern(gc.TokenURL), shared.intern(gc.ClientID)
	gc.IntrospectionURL = shared.intern(gc.IntrospectionURL)
	var source scheduler.TokenSource
	if hw.pending[cr.Name] { // its issuer was down at start-up and nothing is stored (discover.go)
		source = &discoveringSource{cr: *cr, http: gc.HTTPClient, tokens: gc.CredentialToken, store: hw.meta,
			log: hw.discLog.With(zap.String("credential", cr.Name)), now: time.Now}
	} else {
		src, err := grants.New(gc)
		if err != nil {
			return scheduler.Credential{}, err
		}
		source = tokenSource(src)
	}
	c := scheduler.Credential{
		Name:          cr.Name,
		Grant:         grants.Grant(cr.Grant),
		Source:        source,
		RefreshBefore: cr.RefreshBefore.Duration,
		Provider:      shared.intern(cr.ProviderKey()), // token_url is final here (presets, discovery)
	}
	if cr.Schedule != "" {
		var err error
		if c.Schedule, err = config.ParseSchedule(cr.Schedule); err != nil {
			return c, fmt.Errorf("schedule: %w", err)
		}
	}
	if path := cr.SeedFile(); path != "" {
		c.Seed = func() (secret.Secret, error) { return config.ReadSecretFile(path) }
	}
	var errs []error
	for j, sc := range cr.Sinks {
		sk, err := buildSink(cr.Name, sc, shared)
		if err == nil {
			sk, err = wrapHook(sk, sc, hw)
		}
		if err != nil { // the kind's error names the sink's type and path
			errs = append(errs, fmt.Errorf("sink[%d]: %w", j+1, err))
			continue
		}
		c.Sinks = append(c.Sinks, sk)
	}
	return c, errors.Join(errs...)
}

// providerLimits maps [scheduler]'s per-provider keys to the scheduler's
// limits. It captures the start-up [scheduler]: like the rest of that table,
// the limits need a restart to change (reload.go keepRestartOnly).
func providerLimits(sc config.Scheduler) func(string) scheduler.ProviderLimit {
	return func(key string) scheduler.ProviderLimit {
		m, r, b := sc.LimitFor(key)
		return scheduler.ProviderLimit{MaxConcurrent: m, Rate: r, Burst: b}
	}
}

// prepareSinks gives each sink kind with a Prepare the options of all its
// sinks in cfg, before any is built. Its error is not reported: each sink's
// Build checks again what a failed Prepare could not, and names the sink.
func prepareSinks(cfg *config.Config, env kinds.Env) {
	byKind := map[string][]kinds.Options{}
	for i := range cfg.Credentials {
		for _, sc := range cfg.Credentials[i].Sinks {
			if sc.Options != nil {
				byKind[sc.Type] = append(byKind[sc.Type], sc.Options)
			}
		}
	}
	for _, k := range kinds.All() {
		if k.Prepare != nil && len(byKind[k.Name]) > 0 {
			_ = k.Prepare(byKind[k.Name], env)
		}
	}
}

// buildSink builds one sink through its kind (internal/sinks/kinds), with
// the kind's start-up check, lending it what the build's sinks share.
func buildSink(cred string, sc config.Sink, shared *buildCache) (scheduler.Sink, error) {
	k, ok := kinds.Lookup(sc.Type)
	if !ok || sc.Options == nil {
		return nil, fmt.Errorf("unknown sink type %q", sc.Type)
	}
	env := shared.env
	env.Credential = cred
	return k.Build(sc.Options, env)
}
