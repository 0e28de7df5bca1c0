package bootstrap

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/status"
)

const genericCred = `name = "app"
token_url = "https://idp.example/token"
client_id = "app"
client_secret = "s"`

func TestStoreDirectWritesWhatImportWould(t *testing.T) {
	cfg := loadConfig(t, genericCred)
	now := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	prev := state.Record{Credential: "app", RefreshToken: secret.New("rt-old"), Generation: 5, Status: state.StatusNeedsReauth,
		Intent: &state.Intent{Generation: 5, StartedAt: now.Add(-time.Hour)}, LastError: &state.ErrorInfo{Class: "permanent", Code: "invalid_grant"}}
	st, err := state.Open(cfg.State.Dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Save(context.Background(), prev); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()

	tok := scheduler.ImportedToken{RefreshToken: secret.New("rt-new"), AccessToken: secret.New("at-new"), TokenType: "Bearer",
		Scope: "read", ExpiresAt: now.Add(time.Hour), IssuedAt: now}
	where, err := Store(context.Background(), cfg, "app", tok, StoreOptions{Now: func() time.Time { return now }})
	if err != nil || where != Direct {
		t.Fatalf("Store: %v %v", where, err)
	}
	got, err := stored(t, cfg, "app")
	if err != nil {
		t.Fatal(err)
	}
	want := prev.Imported("app", tok, now)
	if got.Generation != 6 || got.Status != state.StatusOK || got.Intent != nil || got.LastError != nil ||
		got.RefreshToken.Reveal() != "rt-new" || got.AccessToken.Reveal() != "at-new" || !got.LastSuccess.Equal(now) {
		t.Errorf("stored %+v", got)
	}
	if !reflect.DeepEqual(stripTimes(got), stripTimes(want)) {
		t.Errorf("stored record differs from state.Record.Imported:\n got %+v\nwant %+v", got, want)
	}

	// A bare refresh token: pending, so tokend run refreshes at once.
	if _, err := Store(context.Background(), cfg, "app", scheduler.ImportedToken{RefreshToken: secret.New("rt-3")}, StoreOptions{}); err != nil {
		t.Fatal(err)
	}
	got, _ = stored(t, cfg, "app")
	if got.Generation != 7 || got.Status != state.StatusPending || !got.AccessToken.IsZero() || got.RefreshToken.Reveal() != "rt-3" {
		t.Errorf("refresh-token-only import: %+v", got)
	}
}

// stripTimes drops monotonic and location details for comparison.
func stripTimes(r state.Record) state.Record {
	r.ExpiresAt, r.IssuedAt, r.LastSuccess = r.ExpiresAt.UTC(), r.IssuedAt.UTC(), r.LastSuccess.UTC()
	return r
}

type recordingImporter struct {
	name string
	tok  scheduler.ImportedToken
	err  error
}

func (r *recordingImporter) Import(_ context.Context, name string, tok scheduler.ImportedToken) error {
	r.name, r.tok = name, tok
	return r.err
}

func TestStoreThroughRunningDaemon(t *testing.T) {
	cfg := loadConfig(t, genericCred)
	held, err := state.Open(cfg.State.Dir, state.Options{}) // the "daemon"
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	tok := scheduler.ImportedToken{RefreshToken: secret.New("rt-via-daemon")}
	imp := &recordingImporter{}
	where, err := Store(context.Background(), cfg, "app", tok, StoreOptions{
		LockTimeout: 10 * time.Millisecond,
		Daemon:      func(*config.Config) (Importer, error) { return imp, nil },
	})
	if err != nil || where != ViaDaemon || imp.name != "app" || imp.tok.RefreshToken.Reveal() != "rt-via-daemon" {
		t.Fatalf("Store: %v %v %+v", where, err, imp)
	}
	// The daemon's own refusal is passed on (not "unreachable").
	imp.err = errors.New("HTTP 409: a refresh is in flight")
	_, err = Store(context.Background(), cfg, "app", tok, StoreOptions{LockTimeout: 10 * time.Millisecond,
		Daemon: func(*config.Config) (Importer, error) { return imp, nil }})
	if err == nil || errors.Is(err, ErrDaemonUnreachable) || !strings.Contains(err.Error(), "409") {
		t.Errorf("daemon refusal: %v", err)
	}
	// No [status]: a clear error.
	_, err = Store(context.Background(), cfg, "app", tok, StoreOptions{LockTimeout: 10 * time.Millisecond})
	if !errors.Is(err, ErrDaemonUnreachable) || !strings.Contains(err.Error(), "a running tokend holds the state store; stop it or enable [status]") {
		t.Errorf("no [status]: %v", err)
	}
	// [status] configured but nobody listening: unreachable too.
	cfg.Status = &config.Status{Listen: "127.0.0.1:1"}
	if _, err := status.EnsureAdminToken(cfg.AdminTokenFile()); err != nil {
		t.Fatal(err)
	}
	_, err = Store(context.Background(), cfg, "app", tok, StoreOptions{LockTimeout: 10 * time.Millisecond})
	if !errors.Is(err, ErrDaemonUnreachable) || !errors.Is(err, status.ErrUnreachable) {
		t.Errorf("daemon not listening: %v", err)
	}
}

func TestStoreRefusesNonsense(t *testing.T) {
	cfg := loadConfig(t, genericCred)
	if _, err := Store(context.Background(), cfg, "nope", scheduler.ImportedToken{RefreshToken: secret.New("x")}, StoreOptions{}); err == nil {
		t.Error("unknown credential accepted")
	}
	if _, err := Store(context.Background(), cfg, "app", scheduler.ImportedToken{}, StoreOptions{}); err == nil {
		t.Error("empty token accepted")
	}
}

func TestPreflight(t *testing.T) {
	cfg := loadConfig(t, genericCred)
	if err := Preflight(cfg, StoreOptions{}); err != nil {
		t.Fatalf("free store: %v", err)
	}
	held, err := state.Open(cfg.State.Dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	opts := StoreOptions{LockTimeout: 10 * time.Millisecond}
	if err := Preflight(cfg, opts); !errors.Is(err, ErrDaemonUnreachable) {
		t.Errorf("locked, no [status]: %v", err)
	}
	cfg.Status = &config.Status{Listen: "127.0.0.1:1"}
	if err := Preflight(cfg, opts); !errors.Is(err, ErrDaemonUnreachable) || !strings.Contains(err.Error(), "admin token") {
		t.Errorf("locked, no admin token yet: %v", err)
	}
	if _, err := status.EnsureAdminToken(cfg.AdminTokenFile()); err != nil {
		t.Fatal(err)
	}
	if err := Preflight(cfg, opts); err != nil {
		t.Errorf("locked, [status] and admin token: %v", err)
	}
}
