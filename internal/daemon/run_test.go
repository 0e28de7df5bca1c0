package daemon

import (
	"context"
	"sync"
	"testing"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/logging"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/syncbuf"
)

// runConfig starts a daemon on the config document doc (secrets resolved,
// logs into logs at info level) with opts, and returns it with its stop,
// which is safe to call more than once, reports Run's error as a test
// error naming label, and also runs at cleanup.
func runConfig(t *testing.T, doc string, logs *syncbuf.Buffer, opts scheduler.Options, label string) (*Daemon, func()) {
	t.Helper()
	cfg, err := config.Decode([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.ResolveSecrets(); err != nil {
		t.Fatal(err)
	}
	log, _ := logging.New(logs, "info")
	d, err := New(cfg, log, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s Run: %v", label, err)
			}
		})
	}
	t.Cleanup(stop)
	return d, stop
}
