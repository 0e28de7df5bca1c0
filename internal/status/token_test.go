package status

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/sinks"
	"github.com/tokend/tokend/internal/state"
)

// tokenBackend adds the TokenBackend power to fakeBackend.
type tokenBackend struct {
	*fakeBackend
}

func (tokenBackend) Token(name string) (sinks.Token, state.Status, error) {
	switch name {
	case "app":
		return sinks.Token{Credential: name, AccessToken: secret.New("at-status-secret"), TokenType: "bearer", Generation: 3}, state.StatusOK, nil
	case "lost":
		return sinks.Token{}, state.StatusNeedsReauth, fmt.Errorf("credential %q: %w (needs re-authorization)", name, scheduler.ErrNoToken)
	}
	return sinks.Token{}, "", fmt.Errorf("%w %q", scheduler.ErrUnknownCredential, name)
}

// TestTokenEndpoint: the token only with the admin token, 503 with the
// reason when there is none, 404 for an unknown name, and the token in no
// log line.
func TestTokenEndpoint(t *testing.T) {
	ts := startTokenServer(t)
	ctx := context.Background()

	tok, err := ts.client.Token(ctx, "app")
	if err != nil || tok.AccessToken.Reveal() != "at-status-secret" || tok.TokenType != "bearer" || tok.Generation != 3 {
		t.Fatalf("Token(app) = %+v, %v", tok, err)
	}
	if _, err := ts.client.Token(ctx, "lost"); !errors.Is(err, ErrNoToken) || !strings.Contains(err.Error(), "needs re-authorization") {
		t.Fatalf("Token(lost): %v", err)
	}
	if _, err := ts.client.Token(ctx, "nope"); !IsNotFound(err) {
		t.Fatalf("Token(nope): %v", err)
	}
	for _, auth := range []string{"", "Bearer wrong"} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+ts.srv.Addr()+"/v1/credentials/app/token", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("without the admin token (%q): HTTP %d", auth, resp.StatusCode)
		}
	}
	for _, e := range ts.logs.All() {
		if strings.Contains(fmt.Sprint(e.Message, e.ContextMap()), "at-status-secret") {
			t.Fatalf("token in a log line: %v", e)
		}
	}

	// A backend without the power answers 501.
	plain := startServer(t, "127.0.0.1:0", healthyBackend())
	if _, err := plain.client.Token(ctx, "app"); !isAPI(err, http.StatusNotImplemented) {
		t.Fatalf("without TokenBackend: %v", err)
	}
}

// startTokenServer is startServer with a backend that has the TokenBackend power.
func startTokenServer(t *testing.T) *testServer {
	t.Helper()
	tokFile := filepath.Join(t.TempDir(), "admin.token")
	admin, err := EnsureAdminToken(tokFile)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	b := healthyBackend()
	srv, err := New(Options{Listen: "127.0.0.1:0", Backend: tokenBackend{b}, AdminToken: admin, Log: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	c, err := NewClient(srv.Addr(), tokFile)
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{b: b, srv: srv, client: c, logs: logs, admin: admin, tokFile: tokFile}
}
