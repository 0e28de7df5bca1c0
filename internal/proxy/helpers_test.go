package proxy

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/sinks"
	"github.com/tokend/tokend/internal/state"
)

// fakeSource is a scheduler stand-in: a current token by generation;
// RefreshNow (counted) moves to the next generation after onRefresh, and
// tells the server (StatusChanged) as the scheduler's observer would.
type fakeSource struct {
	mu        sync.Mutex
	gen       uint64
	status    state.Status
	refreshes atomic.Int32
	srv       *Server
	onRefresh func() // runs before the new token is current (e.g. wait)
}

func tokenOf(gen uint64) string { return fmt.Sprintf("at-gen-%d", gen) }

func (f *fakeSource) Token(name string) (sinks.Token, state.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.status == state.StatusNeedsReauth {
		return sinks.Token{}, f.status, fmt.Errorf("credential %q: %w (needs re-authorization)", name, scheduler.ErrNoToken)
	}
	return sinks.Token{Credential: name, AccessToken: secret.New(tokenOf(f.gen)), TokenType: "bearer", Generation: f.gen}, state.StatusOK, nil
}

func (f *fakeSource) RefreshNow(name string) error {
	f.refreshes.Add(1)
	go func() {
		if f.onRefresh != nil {
			f.onRefresh()
		}
		f.mu.Lock()
		f.gen++
		st := scheduler.CredentialStatus{Name: name, Status: state.StatusOK, Generation: f.gen}
		f.mu.Unlock()
		f.srv.StatusChanged(st)
	}()
	return nil
}

// countObserver records the Observer calls.
type countObserver struct {
	mu      sync.Mutex
	classes map[string]int
	retries int
}

func (o *countObserver) ProxyRequest(_, _, class string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.classes == nil {
		o.classes = map[string]int{}
	}
	o.classes[class]++
}

func (o *countObserver) ProxyRetried(_, _ string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.retries++
}

func (o *countObserver) get(class string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.classes[class]
}

// start runs a proxy for credential "app" to upstream until the test ends.
func start(t testing.TB, listen, upstream, caFile string, src *fakeSource, obs Observer) *Server {
	t.Helper()
	srv, err := New(Options{Listen: listen, Route: Route{Credential: "app", Upstream: upstream, CAFile: caFile}, Source: src, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	src.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv
}

// client is an HTTP client with its own connection pool.
func client() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}
}
