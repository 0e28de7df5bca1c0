package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"
)

// shutdownSignals returns a context cancelled by the first SIGINT or SIGTERM
// (clean shutdown: answered refreshes are saved, unanswered token requests
// are cancelled after a second). A second signal exits at once with
// 128+signal, logging the credentials whose work in flight is abandoned.
// stop unregisters the signals.
func shutdownSignals(log *zap.Logger, abandoned func() []string) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		var sig os.Signal
		select {
		case sig = <-sigs:
		case <-done:
			return
		}
		log.Info("signal received; shutting down (send it again to exit at once)", zap.String("signal", sig.String()))
		cancel()
		select {
		case sig = <-sigs:
		case <-done:
			return
		}
		names := abandoned()
		if names == nil {
			names = []string{}
		}
		log.Error("second signal: exiting at once; work in flight is abandoned (an unanswered token request's outcome is re-checked at the next start)",
			zap.String("signal", sig.String()), zap.Strings("abandoned", names))
		_ = log.Sync()
		code := 1
		if s, ok := sig.(syscall.Signal); ok {
			code = 128 + int(s)
		}
		os.Exit(code)
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}
