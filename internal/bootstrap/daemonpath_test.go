package bootstrap

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/status"
)

// daemonBackend is a running daemon as the status server sees it, reduced
// to building the record of an import the way scheduler.Import does.
type daemonBackend struct {
	mu   sync.Mutex
	prev state.Record
	rec  state.Record
	now  time.Time
}

func (b *daemonBackend) Snapshot() []scheduler.CredentialStatus {
	return []scheduler.CredentialStatus{{Name: "app", Status: state.StatusOK}}
}
func (b *daemonBackend) StoreOpen() bool              { return true }
func (b *daemonBackend) RefreshNow(string) error      { return nil }
func (b *daemonBackend) Reload(context.Context) error { return nil }
func (b *daemonBackend) Import(_ context.Context, name string, tok scheduler.ImportedToken) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rec = b.prev.Imported(name, tok, b.now)
	return nil
}

// TestDaemonPathBuildsTheDirectRecord: a token stored through the daemon's
// admin API (DaemonImporter, the wire, the status server) reaches the daemon
// whole, so the record it builds is the one the direct path writes; before,
// the wire dropped IssuedAt and the daemon stamped its own now.
func TestDaemonPathBuildsTheDirectRecord(t *testing.T) {
	now := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	issued := now.Add(-90 * time.Second) // authorize: the code was redeemed a while ago
	tok := scheduler.ImportedToken{RefreshToken: secret.New("rt-new"), AccessToken: secret.New("at-new"), TokenType: "Bearer",
		Scope: "read", ExpiresAt: issued.Add(time.Hour), IssuedAt: issued}
	prev := state.Record{Credential: "app", RefreshToken: secret.New("rt-old"), Generation: 5, Status: state.StatusNeedsReauth}

	// Direct: the store file.
	cfg := loadConfig(t, genericCred)
	st, err := state.Open(cfg.State.Dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Save(context.Background(), prev); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	if where, err := Store(context.Background(), cfg, "app", tok, StoreOptions{Now: func() time.Time { return now }}); err != nil || where != Direct {
		t.Fatalf("direct Store: %v %v", where, err)
	}
	direct, err := stored(t, cfg, "app")
	if err != nil {
		t.Fatal(err)
	}

	// Through the daemon: a status server in front of the backend.
	b := &daemonBackend{prev: prev, now: now}
	cfg.Status = &config.Status{Listen: "127.0.0.1:0"}
	admin, err := status.EnsureAdminToken(cfg.AdminTokenFile())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := status.New(status.Options{Listen: "127.0.0.1:0", Backend: b, AdminToken: admin})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	cfg.Status.Listen = srv.Addr()
	imp, err := DaemonImporter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := imp.Import(context.Background(), "app", tok); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	viaDaemon := b.rec
	b.mu.Unlock()
	if !viaDaemon.IssuedAt.Equal(issued) {
		t.Errorf("daemon path IssuedAt = %v, want %v", viaDaemon.IssuedAt, issued)
	}
	if !reflect.DeepEqual(stripTimes(viaDaemon), stripTimes(direct)) {
		t.Errorf("daemon path record differs from the direct one:\n daemon %+v\n direct %+v", viaDaemon, direct)
	}
}
