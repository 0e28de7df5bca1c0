package demo

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tokend/tokend/internal/sinks/envfile"
	"github.com/tokend/tokend/internal/syncbuf"
)

// TestDemoRotatesAtomicallyAndResumes runs the demo with 3-second tokens,
// reads its sinks continuously (every read must be a complete file), then
// runs it again on the same directory: it resumes without reusing a token.
func TestDemoRotatesAtomicallyAndResumes(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, AccessTTL: 3 * time.Second, StatusEvery: 500 * time.Millisecond}
	out := &syncbuf.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, opts, zap.NewNop(), out) }()

	seen := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for len(seen) < 4 && time.Now().Before(deadline) {
		if b, err := os.ReadFile(filepath.Join(dir, "demo-app.json")); err == nil {
			var js struct {
				AccessToken string `json:"access_token"`
			}
			if err := json.Unmarshal(b, &js); err != nil || js.AccessToken == "" {
				t.Fatalf("torn or empty JSON sink: %q", b)
			}
			seen[js.AccessToken] = true
		}
		if b, err := os.ReadFile(filepath.Join(dir, "tokens.env")); err == nil {
			vars, err := envfile.Parse(b)
			if err != nil || (len(vars) > 0 && vars["DEMO_APP_TOKEN"] == "" && vars["DEMO_SERVICE_TOKEN"] == "") {
				t.Fatalf("torn env-file: %q (%v)", b, err)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(seen) < 4 { // the first token plus three rotations
		t.Fatalf("saw %d distinct access tokens; want at least 4", len(seen))
	}
	if !strings.Contains(out.String(), "0 reused tokens") || !regexp.MustCompile(`demo-app\s+ok\s+[3-9]`).MatchString(out.String()) {
		t.Fatalf("status output:\n%s", out.String())
	}

	// Second run: resumes from the stored refresh token.
	out2 := &syncbuf.Buffer{}
	ctx, cancel = context.WithCancel(context.Background())
	go func() { done <- Run(ctx, opts, zap.NewNop(), out2) }()
	time.Sleep(4 * time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out2.String(), "needs_reauth") || !strings.Contains(out2.String(), " 0 reused tokens") {
		t.Fatalf("second run did not resume cleanly:\n%s", out2.String())
	}
}

// TestSecondDemoInTheSameDirRefusesBeforeTouchingIt: while a demo runs, a
// second one on its directory says so and rewrites neither its config nor
// its provider's records; the first keeps refreshing.
func TestSecondDemoInTheSameDirRefusesBeforeTouchingIt(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Dir: dir, AccessTTL: time.Hour, StatusEvery: time.Hour}, zap.NewNop(), &syncbuf.Buffer{})
	}()
	cfgPath := filepath.Join(dir, "tokend.toml")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "demo-app.json")); err == nil {
			break // the first demo's daemon is running (its sink is written)
		}
		if time.Now().After(deadline) {
			t.Fatal("the first demo wrote no sink")
		}
		time.Sleep(20 * time.Millisecond)
	}
	before, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	provBefore, _ := os.ReadFile(filepath.Join(dir, "provider.json"))
	err = Run(context.Background(), Options{Dir: dir}, zap.NewNop(), &syncbuf.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "another tokend demo is running in") || !strings.Contains(err.Error(), "--dir") {
		t.Fatalf("second demo in the same directory: %v", err)
	}
	after, _ := os.ReadFile(cfgPath)
	provAfter, _ := os.ReadFile(filepath.Join(dir, "provider.json"))
	if string(after) != string(before) || string(provAfter) != string(provBefore) {
		t.Fatal("the refused demo rewrote the running demo's config or provider records")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("the first demo: %v", err)
	}
}
