package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.uber.org/zap"

	"github.com/tokend/tokend/internal/buildinfo"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/daemon"
	"github.com/tokend/tokend/internal/scheduler"
)

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", "run [-c|--config FILE] [--log-level LEVEL] [--log-format json|console]", stdout, stderr)
	cfgPath := configFlag(fs, "config file")
	newLogger := logFlags(fs)
	if code, ok := parseNoArgs(fs, args); !ok {
		return code
	}
	log, err := newLogger(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "tokend: %v\n", err)
		return 2
	}
	defer func() { _ = log.Sync() }()
	cfg, err := daemon.LoadConfig(context.Background(), *cfgPath, daemon.LoadOptions{Warn: func(w string) { log.Warn(w) },
		DeferDiscovery: true}) // discovered by daemon.New, with the stored metadata to fall back on
	if err != nil {
		logNotStarting(log, *cfgPath, err)
		return 1
	}
	d, err := daemon.New(cfg, log, scheduler.Options{})
	if le := (*daemon.LoadError)(nil); errors.As(err, &le) { // the deferred discovery got a wrong answer
		logNotStarting(log, *cfgPath, err)
		return 1
	}
	if err != nil {
		log.Error("cannot start", zap.Error(err))
		return storeExit(err) // 4: the state store is damaged (store.go)
	}
	ctx, stop := shutdownSignals(log, d.Abandoned) // a second signal exits at once (signals.go)
	defer stop()
	defer reloadOnHangup(ctx, d)() // SIGHUP (systemctl reload) re-reads the config
	log.Info("tokend running", zap.String("version", buildinfo.Read().Version), zap.String("config", *cfgPath),
		zap.Strings("included", cfg.Includes)) // conf.d files, re-globbed by every reload
	if err := d.Run(ctx); err != nil {
		log.Error("exiting with error", zap.Error(err))
		var unsaved *scheduler.UnsavedError
		if errors.As(err, &unsaved) {
			return exitUnsaved // 6: new refresh tokens were lost at the stop
		}
		return 1
	}
	return 0
}

// exitUnsaved is `tokend run`'s exit code when it stopped with answered
// refreshes it could not save (scheduler.UnsavedError): the credentials it
// named will need re-authorization.
const exitUnsaved = 6

// logNotStarting logs why `tokend run` cannot use its config, worded by the
// step of daemon.LoadConfig that failed.
func logNotStarting(log *zap.Logger, path string, err error) {
	var le *daemon.LoadError
	stage := daemon.StageLoad
	if errors.As(err, &le) {
		stage = le.Stage
	}
	switch stage {
	case daemon.StageSecrets:
		log.Error("cannot read secrets; not starting", zap.Error(err))
	case daemon.StageDiscovery:
		log.Error("endpoint discovery failed; not starting", zap.Error(err))
	default:
		log.Error("invalid config; not starting", zap.String("config", path), zap.Error(err))
	}
}

// cmdValidate checks a config as `tokend run` would start with it (the same
// LoadConfig, with issuer discovery, then daemon.Preflight: secret and key
// files, sink directories, hooks, Vault) without side effects, and exits 1
// on anything run would refuse. --offline checks the file alone, for
// machines that lack the target's paths (CI): unreadable secrets are then
// only a warning.
func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("validate", "validate [-c|--config FILE] [--offline]", stdout, stderr)
	cfgPath := configFlag(fs, "config file")
	offline := fs.Bool("offline", false, "check the config file alone: no secret files, sink directories, hooks, Vault or issuer discovery")
	if code, ok := parseNoArgs(fs, args); !ok {
		return code
	}
	var refused []error // what run would refuse past a valid config file
	opts := daemon.LoadOptions{
		Offline:           *offline,
		DeferDiscovery:    true, // discovered in daemon.Preflight, as New does for run
		Warn:              func(w string) { fmt.Fprintf(stderr, "warning: %s\n", w) },
		SecretsUnreadable: func(err error) { refused = append(refused, err) },
	}
	if *offline { // secret files may exist only on the target machine: say so, don't fail
		opts.SecretsUnreadable = func(err error) {
			fmt.Fprintf(stderr, "warning: secrets cannot be read here (tokend run would fail):\n%v\n", err)
		}
	}
	cfg, err := daemon.LoadConfig(context.Background(), *cfgPath, opts)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	if *offline {
		fmt.Fprintf(stdout, "%s: OK (%d credentials)%s; config only (--offline): secrets, paths, hooks and Vault not checked\n", *cfgPath, len(cfg.Credentials), included(cfg))
		return 0
	}
	if err := daemon.Preflight(context.Background(), cfg, zap.NewNop()); err != nil {
		refused = append(refused, err)
	}
	if len(refused) > 0 {
		fmt.Fprintf(stderr, "%s: tokend run would not start:\n%v\n", *cfgPath, errors.Join(refused...))
		return 1
	}
	fmt.Fprintf(stdout, "%s: OK (%d credentials)%s\n", *cfgPath, len(cfg.Credentials), included(cfg))
	return 0
}

// included names the files cfg's include patterns matched, for validate's
// report ("; included: a.toml, b.toml"); "" when there are none.
func included(cfg *config.Config) string {
	if len(cfg.Includes) == 0 {
		return ""
	}
	return "; included: " + strings.Join(cfg.Includes, ", ")
}
