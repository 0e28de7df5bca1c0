package status

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/state"
)

// exercise runs every client call against ts.
func exercise(t *testing.T, ts *testServer) {
	t.Helper()
	ctx := context.Background()
	c := ts.client
	list, err := c.Credentials(ctx)
	if err != nil || len(list) != 2 || list[1].Name != "svc" || list[1].LastError.Description != "connection refused" {
		t.Fatalf("Credentials: %+v %v", list, err)
	}
	one, err := c.Credential(ctx, "app")
	if err != nil || one.Status != state.StatusOK || !one.NextRefresh.Equal(testNow.Add(40*time.Minute)) {
		t.Fatalf("Credential: %+v %v", one, err)
	}
	if _, err := c.Credential(ctx, "nope"); !IsNotFound(err) {
		t.Fatalf("Credential(nope): %v", err)
	}
	r, err := c.Ready(ctx)
	if err != nil || !r.Ready {
		t.Fatalf("Ready: %+v %v", r, err)
	}
	if err := c.Refresh(ctx, "svc"); err != nil || ts.b.refreshed[0] != "svc" {
		t.Fatalf("Refresh: %v", err)
	}
	if err := c.Refresh(ctx, "nope"); !IsNotFound(err) {
		t.Fatalf("Refresh(nope): %v", err)
	}
	if err := c.Reload(ctx); err != nil || ts.b.reloads != 1 {
		t.Fatalf("Reload: %v", err)
	}
	exp := time.Date(2030, 5, 6, 7, 8, 9, 0, time.FixedZone("x", 3600))
	err = c.Import(ctx, "app", ImportRequest{RefreshToken: secret.New("rt-client-secret"), AccessToken: secret.New("at-client-secret"),
		TokenType: "Bearer", Scope: "a b", ExpiresAt: exp})
	got := ts.b.imported["app"]
	if err != nil || got.RefreshToken.Reveal() != "rt-client-secret" || got.AccessToken.Reveal() != "at-client-secret" ||
		got.Scope != "a b" || !got.ExpiresAt.Equal(exp) {
		t.Fatalf("Import: %v %+v", err, got)
	}
	// A refresh token only (tokend import --refresh-token): no expiry sent.
	if err := c.Import(ctx, "svc", ImportRequest{RefreshToken: secret.New("rt-only")}); err != nil ||
		!ts.b.imported["svc"].ExpiresAt.IsZero() || !ts.b.imported["svc"].AccessToken.IsZero() {
		t.Fatalf("Import refresh token only: %v %+v", err, ts.b.imported["svc"])
	}
	ts.b.set(func(b *fakeBackend) { b.reloadErr = errors.New("state.backend: unknown backend \"s3\"") })
	if err := c.Reload(ctx); !isAPI(err, 422) || !strings.Contains(err.Error(), `unknown backend "s3"`) {
		t.Fatalf("Reload invalid: %v", err)
	}
}

func TestClientOverTCP(t *testing.T) {
	exercise(t, startServer(t, "127.0.0.1:0", healthyBackend()))
}

func TestClientOverUnixSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "tokend-sock") // t.TempDir paths can exceed the socket path limit
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "tokend.sock")
	// A stale socket from a crashed daemon is replaced.
	stale, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	_ = stale.Close()
	ts := startServer(t, "unix:"+sock, healthyBackend())
	if ts.srv.Addr() != "unix:"+sock {
		t.Fatalf("Addr %q", ts.srv.Addr())
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket mode: %v %v", fi.Mode(), err)
	}
	exercise(t, ts)
	// Anything but a socket at the path is refused.
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Listen: "unix:" + plain, Backend: healthyBackend()}); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("plain file at socket path: %v", err)
	}
}

func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	// Nothing listening: ErrUnreachable (the CLI exits 1).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	c, err := NewClient(addr, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Credentials(ctx); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("closed port: %v", err)
	}
	c, _ = NewClient("unix:/nonexistent/tokend.sock", "")
	if _, err := c.Credentials(ctx); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("missing socket: %v", err)
	}
	// 0.0.0.0 is reached through loopback.
	ts := startServer(t, "0.0.0.0:0", healthyBackend())
	_, port, _ := net.SplitHostPort(ts.srv.Addr())
	c, _ = NewClient("0.0.0.0:"+port, ts.tokFile)
	if _, err := c.Credentials(ctx); err != nil {
		t.Fatalf("via 0.0.0.0: %v", err)
	}
	// Admin calls need a readable token file; read-only calls do not.
	c, _ = NewClient(ts.srv.Addr(), filepath.Join(t.TempDir(), "missing.token"))
	if _, err := c.Credentials(ctx); err != nil {
		t.Fatalf("read-only call without a token file: %v", err)
	}
	if err := c.Reload(ctx); err == nil || !strings.Contains(err.Error(), "reading admin token") {
		t.Fatalf("admin call without a token file: %v", err)
	}
	if _, err := NewClient("nonsense", ""); err == nil {
		t.Fatal("bad listen address accepted")
	}
}

func TestAdminTokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.token")
	tok, err := EnsureAdminToken(path)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(tok.Reveal()) {
		t.Fatalf("token is not 32 bytes of hex (%d chars)", len(tok.Reveal()))
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v err %v", fi.Mode(), err)
	}
	again, err := EnsureAdminToken(path)
	if err != nil || !again.Equal(tok) {
		t.Fatal("a second start changed the admin token")
	}
	other, _ := EnsureAdminToken(filepath.Join(t.TempDir(), "admin.token"))
	if other.Equal(tok) {
		t.Fatal("two daemons got the same admin token")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureAdminToken(path); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("a group/other-readable token file was not narrowed: %v", fi.Mode())
	}
	if err := os.WriteFile(path, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureAdminToken(path); err == nil || !strings.Contains(err.Error(), "malformed") || strings.Contains(err.Error(), "short") {
		t.Fatalf("malformed token file: %v", err)
	}
	if tokenMatches("", secret.Secret{}) || tokenMatches(tok.Reveal(), secret.Secret{}) || !tokenMatches(tok.Reveal(), tok) {
		t.Fatal("tokenMatches")
	}
}
