package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"go.uber.org/zap"

	"github.com/tokend/tokend/internal/buildinfo"
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
	log.Info("tokend running", zap.String("version", buildinfo.Read().Version), zap.String("config", *cfgPath))
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

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("validate", "validate [-c|--config FILE]", stdout, stderr)
	cfgPath := configFlag(fs, "config file")
	if code, ok := parseNoArgs(fs, args); !ok {
		return code
	}
	cfg, err := daemon.LoadConfig(context.Background(), *cfgPath, daemon.LoadOptions{
		Offline: true, // endpoint discovery happens at start-up of run, never in validate
		Warn:    func(w string) { fmt.Fprintf(stderr, "warning: %s\n", w) },
		// Secret files may exist only on the target machine: say so, don't fail.
		SecretsUnreadable: func(err error) {
			fmt.Fprintf(stderr, "warning: secrets cannot be read here (tokend run would fail):\n%v\n", err)
		},
	})
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: OK (%d credentials)\n", *cfgPath, len(cfg.Credentials))
	return 0
}
