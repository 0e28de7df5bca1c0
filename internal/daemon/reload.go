package daemon

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"go.uber.org/zap"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/scheduler"
)

// Reload re-reads the config file the daemon was started with and applies
// it: added credentials start, removed ones stop (their state stays in the
// store), changed ones pick up new sources, sinks, hooks and windows. Secret
// files are read again. An invalid config — any problem, including a sink
// whose directory is missing — is rejected as a whole: every problem is
// logged, the running config is kept and the error lists them all.
// [state], [status], [vault] and [scheduler] changes need a restart; they
// are logged and ignored. Safe to call concurrently with Run and with itself (reloads
// are serialised); systemd is told RELOADING=1 and then READY=1.
func (d *Daemon) Reload(ctx context.Context) error {
	d.ops.reloadMu.Lock()
	defer d.ops.reloadMu.Unlock()
	d.ops.notify.Reloading()
	err := d.reload(ctx)
	d.ops.metrics.ReloadFinished(err)
	d.ops.notify.Ready(StatusLine(d.Snapshot()))
	return err
}

func (d *Daemon) reload(ctx context.Context) error {
	old := d.config()
	if old.Path == "" {
		return errors.New("reload: the config was not loaded from a file")
	}
	log := d.log.With(zap.String("config", old.Path))
	log.Info("reloading config")
	cfg, creds, err := d.prepareReload(ctx, log, old)
	var pl *proxyPlan
	if err == nil {
		pl, err = d.proxy.plan(cfg) // new listeners open now: a taken port rejects the reload
	}
	if err == nil {
		err = d.sched.Update(ctx, creds)
	}
	if err != nil {
		pl.abandon()
		d.share.abandon()
		for _, line := range strings.Split(err.Error(), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				log.Error("reload rejected; keeping the running config", zap.String("problem", line))
			}
		}
		return fmt.Errorf("config %s rejected; still running the previous config:\n%w", old.Path, err)
	}
	d.share.apply()
	d.proxy.commit(pl)
	added, removed := diffNames(d.credentialNames(), cfg)
	d.setConfig(cfg)
	log.Info("config reloaded", zap.Int("credentials", len(cfg.Credentials)),
		zap.Strings("added", added), zap.Strings("removed", removed))
	releaseTransientMemory()
	return nil
}

// prepareReload loads, validates and builds the new config; nothing is
// applied yet.
func (d *Daemon) prepareReload(ctx context.Context, log *zap.Logger, old *config.Config) (*config.Config, []scheduler.Credential, error) {
	cfg, err := LoadConfig(ctx, old.Path, LoadOptions{Warn: func(w string) { log.Warn(w) }}) // as `tokend run` does
	if err != nil {
		return nil, nil, err
	}
	keepRestartOnly(log, old, cfg)
	creds, err := buildCredentials(cfg, d.hooks())
	return cfg, creds, err
}

// keepRestartOnly carries the tables that need a restart over from the
// running config into the new one, warning about each that changed.
func keepRestartOnly(log *zap.Logger, old, cfg *config.Config) {
	if !reflect.DeepEqual(old.State, cfg.State) {
		log.Warn("[state] changed; it takes effect after a restart")
		cfg.State = old.State
	}
	if !reflect.DeepEqual(old.Status, cfg.Status) {
		log.Warn("[status] changed; it takes effect after a restart")
		cfg.Status = old.Status
	}
	if !reflect.DeepEqual(old.Vault, cfg.Vault) {
		log.Warn("[vault] changed; it takes effect after a restart")
		cfg.Vault = old.Vault
	}
	if !reflect.DeepEqual(old.Scheduler, cfg.Scheduler) {
		log.Warn("[scheduler] changed; it takes effect after a restart")
		cfg.Scheduler = old.Scheduler
	}
}

// diffNames compares the running credentials' names with cfg's, in config
// order (sets, not nested scans: a reload may carry every credential).
func diffNames(before []string, cfg *config.Config) (added, removed []string) {
	had := make(map[string]bool, len(before))
	for _, n := range before {
		had[n] = true
	}
	has := make(map[string]bool, len(cfg.Credentials))
	for _, cr := range cfg.Credentials {
		has[cr.Name] = true
		if !had[cr.Name] {
			added = append(added, cr.Name)
		}
	}
	for _, n := range before {
		if !has[n] {
			removed = append(removed, n)
		}
	}
	return added, removed
}

// config returns the running config without its credentials (see setConfig).
func (d *Daemon) config() *config.Config {
	d.ops.cfgMu.Lock()
	defer d.ops.cfgMu.Unlock()
	return d.cfg
}

// credentialNames returns the running credentials' names, in config order.
func (d *Daemon) credentialNames() []string {
	d.ops.cfgMu.Lock()
	defer d.ops.cfgMu.Unlock()
	return d.names
}

// setConfig keeps what a reload needs of the running config: the tables it
// compares and carries over (keepRestartOnly), the path, and the credential
// names. The decoded credentials and sinks are not kept: nothing reads them
// after start-up (the scheduler holds what it needs, built by
// buildCredentials), and at scale they were megabytes (docs/performance.md, "Figures behind the code").
func (d *Daemon) setConfig(cfg *config.Config) {
	names := make([]string, len(cfg.Credentials))
	for i := range cfg.Credentials {
		names[i] = cfg.Credentials[i].Name
	}
	kept := *cfg
	kept.Credentials, kept.Warnings = nil, nil
	d.ops.cfgMu.Lock()
	defer d.ops.cfgMu.Unlock()
	d.cfg, d.names = &kept, names
}
