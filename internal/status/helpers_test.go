package status

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/state"
)

// fakeBackend records admin calls and serves a settable snapshot.
type fakeBackend struct {
	mu        sync.Mutex
	sts       []scheduler.CredentialStatus
	storeOpen bool
	refreshed []string
	reloads   int
	reloadErr error
	imported  map[string]scheduler.ImportedToken
	// onSnapshot, if set, runs (under mu) before each Snapshot: the daemon
	// moving on between two polls.
	onSnapshot func(b *fakeBackend)
}

func (b *fakeBackend) Snapshot() []scheduler.CredentialStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.onSnapshot != nil {
		b.onSnapshot(b)
	}
	return slices.Clone(b.sts)
}

func (b *fakeBackend) StoreOpen() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.storeOpen
}

func (b *fakeBackend) RefreshNow(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refreshed = append(b.refreshed, name)
	return nil
}

func (b *fakeBackend) Reload(context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reloads++
	return b.reloadErr
}

func (b *fakeBackend) Import(_ context.Context, name string, tok scheduler.ImportedToken) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.imported == nil {
		b.imported = map[string]scheduler.ImportedToken{}
	}
	b.imported[name] = tok
	for i := range b.sts {
		if b.sts[i].Name == name {
			b.sts[i].Generation++
			b.sts[i].TokenFP = tok.AccessToken.Fingerprint()
		}
	}
	return nil
}

func (b *fakeBackend) set(fn func(b *fakeBackend)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fn(b)
}

var testNow = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)

func healthyBackend() *fakeBackend {
	return &fakeBackend{storeOpen: true, sts: []scheduler.CredentialStatus{
		{Name: "app", Status: state.StatusOK, ExpiresAt: testNow.Add(time.Hour), NextRefresh: testNow.Add(40 * time.Minute),
			Generation: 3, TokenFP: "0a1b2c3d", Sinks: []scheduler.SinkStatus{{Name: "file:/run/tokend/app.json", OK: true, Generation: 3}}},
		{Name: "svc", Status: state.StatusBackoff, ExpiresAt: testNow.Add(5 * time.Minute), Generation: 9, TokenFP: "99887766", Attempt: 2,
			LastError: &state.ErrorInfo{Class: "transient", Code: "network", Description: "connection refused", At: testNow}},
	}}
}

// testServer is a real server on 127.0.0.1 (or a unix socket) with a client.
type testServer struct {
	b       *fakeBackend
	srv     *Server
	client  *Client
	logs    *observer.ObservedLogs
	admin   secret.Secret
	tokFile string
}

const metricsBody = "# HELP tokend_test 1\n"

func startServer(t *testing.T, listen string, b *fakeBackend) *testServer {
	t.Helper()
	tokFile := filepath.Join(t.TempDir(), "admin.token")
	admin, err := EnsureAdminToken(tokFile)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	srv, err := New(Options{Listen: listen, Backend: b, AdminToken: admin, Log: zap.New(core), Now: func() time.Time { return testNow },
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, metricsBody) })})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	c, err := NewClient(srv.Addr(), tokFile)
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{b: b, srv: srv, client: c, logs: logs, admin: admin, tokFile: tokFile}
}

// isAPI reports whether err is an *APIError with the given status.
func isAPI(err error, status int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == status
}
