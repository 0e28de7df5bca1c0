package demo

import (
	"context"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/status"
	"github.com/tokend/tokend/internal/syncbuf"
)

// TestDemoServesStatus checks that the demo prints its status URL and that
// `tokend status --config tokend-demo/tokend.toml` would find it.
func TestDemoServesStatus(t *testing.T) {
	dir := t.TempDir()
	out := &syncbuf.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Dir: dir, AccessTTL: time.Minute, StatusEvery: time.Hour}, zap.NewNop(), out)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	re := regexp.MustCompile(`status: http://(127\.0\.0\.1:\d+)/v1/credentials`)
	deadline := time.Now().Add(10 * time.Second)
	for re.FindStringSubmatch(out.String()) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("no status URL in:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	addr := re.FindStringSubmatch(out.String())[1]
	listen, stateDir, err := config.LoadStatus(filepath.Join(dir, "tokend.toml"))
	if err != nil || listen != addr || stateDir != filepath.Join(dir, "state") {
		t.Fatalf("the demo config points elsewhere: %q %q %v", listen, stateDir, err)
	}
	c, err := status.NewClient(listen, config.AdminTokenPath(stateDir))
	if err != nil {
		t.Fatal(err)
	}
	for time.Now().Before(deadline) {
		if r, err := c.Ready(ctx); err == nil && r.Ready {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	sts, err := c.Credentials(ctx)
	if err != nil || len(sts) != 2 || sts[0].Name != "demo-app" || sts[0].Status != state.StatusOK || sts[1].Name != "demo-service" {
		t.Fatalf("credentials: %+v %v", sts, err)
	}
	// The admin API works with the token the demo's daemon created.
	if err := c.Refresh(ctx, "demo-service"); err != nil {
		t.Fatal(err)
	}
}
