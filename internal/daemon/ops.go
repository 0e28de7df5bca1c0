package daemon

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/tokend/tokend/internal/atomicfile"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/discovery"
	"github.com/tokend/tokend/internal/metrics"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/sdnotify"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/sinks"
	"github.com/tokend/tokend/internal/sinks/hook"
	"github.com/tokend/tokend/internal/sinks/kinds"
	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/status"
	"github.com/tokend/tokend/internal/vaultclient"
)

// ops is the operations side of a daemon: metrics, systemd notifications,
// the status server and config reloads.
type ops struct {
	metrics   *metrics.Metrics
	notify    *sdnotify.Notifier
	server    *status.Server // nil without a [status] table
	storeOpen atomic.Bool
	reloadMu  sync.Mutex // one reload at a time
	cfgMu     sync.Mutex // guards Daemon.cfg and Daemon.names after start
}

// hookWiring is what change hooks need from the daemon.
type hookWiring struct {
	log   *zap.Logger
	obs   hook.Observer
	vault *vaultclient.Client // vault sinks (vault.go); nil without [vault]
	share *sinkShare          // the daemon's, across reloads; nil: a fresh one per build (CLI validation)
	// tokens looks up another credential's current access token for
	// token_exchange's subject_credential (subjects.go); nil outside a daemon.
	tokens func(ctx context.Context, name string) (secret.Secret, error)
	// Deferred discovery (discover.go): the credentials whose issuer was
	// unavailable with no metadata stored, the store that keeps metadata
	// (nil: none) and the logger for both.
	pending map[string]bool
	meta    discovery.Store
	discLog *zap.Logger
}

// prepareOps sets up metrics and systemd notifications and plugs them into
// the scheduler options: the metrics observe the scheduler (unless the caller
// brought an observer), and every loop iteration pings the watchdog and
// refreshes the STATUS= line. With a watchdog, the loop is made to iterate
// at least every third of its interval.
func (d *Daemon) prepareOps(opts *scheduler.Options) {
	d.ops.metrics = metrics.New(d.Snapshot)
	d.ops.notify = sdnotify.New(d.log.Named("systemd"), nil)
	if opts.Observer == nil {
		opts.Observer = d.ops.metrics
	}
	if wd := d.ops.notify.WatchdogInterval(); wd > 0 {
		if maxWait := wd / 3; opts.MaxWait == 0 || opts.MaxWait > maxWait {
			opts.MaxWait = min(maxWait, 30*time.Second)
		}
	}
	next := opts.OnLoop
	opts.OnLoop = func() {
		d.ops.notify.Watchdog()
		if d.sched != nil && d.ops.notify.Enabled() {
			d.ops.notify.Status(StatusLine(d.sched.Snapshot()))
		}
		if next != nil {
			next()
		}
	}
}

func (d *Daemon) hooks() hookWiring {
	return hookWiring{log: d.log.Named("hook"), obs: d.ops.metrics, vault: d.vault, share: d.share, tokens: d.currentToken}
}

// startOps runs once the store is open: it creates the admin token and
// starts listening for the status server, so a taken port fails start-up.
func (d *Daemon) startOps() error {
	d.ops.storeOpen.Store(true)
	if d.cfg.Status == nil {
		return nil
	}
	if err := atomicfile.EnsureDir(d.cfg.State.Dir); err != nil {
		return fmt.Errorf("status server: %w", err)
	}
	admin, err := status.EnsureAdminToken(d.cfg.AdminTokenFile())
	if err != nil {
		return fmt.Errorf("status server: %w", err)
	}
	d.ops.server, err = status.New(status.Options{Listen: d.cfg.Status.Listen, Backend: d, Metrics: d.ops.metrics.Handler(),
		AdminToken: admin, Log: d.log.Named("status")})
	if err != nil {
		return err
	}
	d.log.Info("status server listening", zap.String("listen", d.ops.server.Addr()), zap.String("admin_token_file", d.cfg.AdminTokenFile()))
	return nil
}

// runOps starts serving status and tells systemd the daemon is ready; on
// ctx's end it says STOPPING. The returned function stops the server (after
// the scheduler, so status stays visible during the shutdown grace).
func (d *Daemon) runOps(ctx context.Context) (stop func() error) {
	serveCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	if d.ops.server != nil {
		go func() { done <- d.ops.server.Serve(serveCtx) }()
	} else {
		done <- nil
	}
	d.ops.notify.Ready(StatusLine(d.sched.Snapshot()))
	stopNotify := context.AfterFunc(ctx, d.ops.notify.Stopping)
	return func() error {
		if stopNotify() { // the scheduler returned before the AfterFunc ran
			d.ops.notify.Stopping()
		}
		d.ops.storeOpen.Store(false)
		cancel()
		return <-done
	}
}

// StatusLine summarises credentials for systemd's STATUS=, e.g.
// "3 credentials: 2 ok, 1 backoff, 0 needs_reauth" (refreshing and pending
// are added when there are any).
func StatusLine(sts []scheduler.CredentialStatus) string {
	n := map[state.Status]int{}
	for _, st := range sts {
		n[st.Status]++
	}
	line := fmt.Sprintf("%d credentials: %d ok, %d backoff, %d needs_reauth", len(sts),
		n[state.StatusOK], n[state.StatusBackoff], n[state.StatusNeedsReauth])
	for _, s := range []state.Status{state.StatusRefreshing, state.StatusPending} {
		if n[s] > 0 {
			line += fmt.Sprintf(", %d %s", n[s], s)
		}
	}
	return line
}

// Snapshot returns every credential's status (status.Backend).
func (d *Daemon) Snapshot() []scheduler.CredentialStatus {
	if d.sched == nil {
		return nil
	}
	return d.sched.Snapshot()
}

// StoreOpen reports whether the state store is open and its file in place
// (status.Backend).
func (d *Daemon) StoreOpen() bool { return d.ops.storeOpen.Load() && d.storeHealthy() }

// RefreshNow forces a refresh of the named credential (status.Backend).
func (d *Daemon) RefreshNow(name string) error { return d.sched.RefreshNow(name) }

// Import stores an out-of-band token through the scheduler (status.Backend):
// saved durably, then sinks written and the next refresh planned.
func (d *Daemon) Import(ctx context.Context, name string, tok scheduler.ImportedToken) error {
	return d.sched.Import(ctx, name, tok)
}

// Metrics returns the daemon's metrics (for tests and embedding).
func (d *Daemon) Metrics() *metrics.Metrics { return d.ops.metrics }

// StatusAddr is where the status server listens ("" when it is off): the
// real port when the config asked for port 0, or "unix:/path".
func (d *Daemon) StatusAddr() string {
	if d.ops.server == nil {
		return ""
	}
	return d.ops.server.Addr()
}

// wrapHook puts a change hook around a sink when its config has on_change.
func wrapHook(sk scheduler.Sink, sc config.Sink, hw hookWiring) (scheduler.Sink, error) {
	if sc.OnChange == nil {
		return sk, nil
	}
	if k, _ := kinds.Lookup(sc.Type); k.File == kinds.NoFile {
		return nil, fmt.Errorf("on_change is only supported on %s sinks", kinds.Names("and", true))
	}
	path, _ := sc.Target()
	return hook.New(sk, hook.Options{Path: path, Argv: sc.OnChange, Timeout: sc.HookTimeout.Duration, Log: hw.log, Observer: hw.obs})
}

// Token returns the named credential's current access token
// (status.TokenBackend; scheduler.Scheduler.Token).
func (d *Daemon) Token(name string) (sinks.Token, state.Status, error) { return d.sched.Token(name) }
