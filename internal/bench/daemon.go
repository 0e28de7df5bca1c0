package bench

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"go.uber.org/zap"

	"github.com/tokend/tokend/internal/daemon"
	"github.com/tokend/tokend/internal/logging"
	"github.com/tokend/tokend/internal/scheduler"
)

// DaemonEnv is set in the environment of every daemon child the bench starts;
// a binary that re-executes itself as the daemon (tokend-bench, the smoke
// test) checks it and calls RunDaemon.
const DaemonEnv = "TOKEND_BENCH_DAEMON"

// CPUProfileEnv and HeapProfileEnv, when set in the bench's environment, make
// each daemon child write a CPU profile for its whole life, and a heap
// profile when it stops, to the given path suffixed with ".<pid>".
const (
	CPUProfileEnv  = "TOKEND_BENCH_CPUPROFILE"
	HeapProfileEnv = "TOKEND_BENCH_HEAPPROFILE"
)

// RunDaemon is what `tokend run --config FILE --log-level LEVEL` does, minus
// endpoint discovery and SIGHUP reload (the generated configs use neither):
// load the config, resolve secrets, run internal/daemon until SIGTERM or
// SIGINT. It returns the process exit code.
func RunDaemon(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("daemon", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "config file")
	level := fs.String("log-level", "info", "log level")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log, err := logging.New(stderr, *level)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	cfg, err := daemon.LoadConfig(context.Background(), *cfgPath, daemon.LoadOptions{})
	if err != nil {
		log.Error("invalid config", zap.Error(err))
		return 1
	}
	d, err := daemon.New(cfg, log, scheduler.Options{})
	if err != nil {
		log.Error("cannot start", zap.Error(err))
		return 1
	}
	if p := os.Getenv(CPUProfileEnv); p != "" {
		if f, err := os.Create(fmt.Sprintf("%s.%d", p, os.Getpid())); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	if p := os.Getenv(HeapProfileEnv); p != "" {
		defer func() {
			if f, err := os.Create(fmt.Sprintf("%s.%d", p, os.Getpid())); err == nil {
				_ = pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := d.Run(ctx); err != nil {
		log.Error("exiting with error", zap.Error(err))
		return 1
	}
	return 0
}
