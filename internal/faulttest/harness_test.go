package faulttest

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/sinks/file"
	"github.com/tokend/tokend/internal/state"
)

// Secret values every case checks for in logs and errors.
const (
	credName     = "fm"
	seedRT       = "rt-seed-4b1d0c"
	goodAT       = "at-good-7e2a91"
	clientSecret = "client-secret-5c3f"
	newAT        = "at-new-91ab"
	newRT        = "rt-new-1c9d"
)

// testBackoff is small so that a hot loop would show within a second.
var testBackoff = scheduler.Backoff{Min: 100 * time.Millisecond, Max: 400 * time.Millisecond}

// attempts counts token-endpoint calls as the scheduler reports them.
type attempts struct {
	mu     sync.Mutex
	n      int
	errs   []error
	starts []time.Time // when each attempt started (its end minus its duration)
}

func (a *attempts) RefreshFinished(_ string, took time.Duration, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n++
	a.starts = append(a.starts, time.Now().Add(-took))
	if err != nil {
		a.errs = append(a.errs, err)
	}
}

// startedBefore counts the attempts that started before t.
func (a *attempts) startedBefore(t time.Time) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, s := range a.starts {
		if s.Before(t) {
			n++
		}
	}
	return n
}
func (a *attempts) SinkWritten(string, string, error)        {}
func (a *attempts) StatusChanged(scheduler.CredentialStatus) {}
func (a *attempts) count() (int, []error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n, append([]error(nil), a.errs...)
}

// rig is one credential with a valid token on disk and in its file sink,
// about to be refreshed against tokenURL.
type rig struct {
	t        *testing.T
	dir      string
	sinkPath string
	store    scheduler.Store
	obs      *attempts
	logs     *observer.ObservedLogs
	sched    *scheduler.Scheduler
	cancel   context.CancelFunc
	done     chan error
}

// newRig stores a valid record (refresh token rt, access token goodAT with
// an hour left) and starts a scheduler for it, client "fm-client" with
// clientSecret. wrap, when non-nil, wraps the real bbolt store.
func newRig(t *testing.T, tokenURL string, hc *http.Client, wrap func(scheduler.Store) scheduler.Store, rt string) *rig {
	t.Helper()
	r := &rig{t: t, dir: t.TempDir(), obs: &attempts{}, done: make(chan error, 1)}
	st, err := state.Open(filepath.Join(r.dir, "state"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	now := time.Now()
	if err := st.Save(context.Background(), state.Record{Credential: credName, RefreshToken: secret.New(rt),
		AccessToken: secret.New(goodAT), TokenType: "Bearer", ExpiresAt: now.Add(time.Hour), IssuedAt: now,
		Generation: 1, LastSuccess: now, Status: state.StatusOK}); err != nil {
		t.Fatal(err)
	}
	r.store = st
	if wrap != nil {
		r.store = wrap(st)
	}
	r.sinkPath = filepath.Join(r.dir, "sink", "fm.token")
	if err := os.MkdirAll(filepath.Dir(r.sinkPath), 0o700); err != nil {
		t.Fatal(err)
	}
	sink, err := file.New(file.Options{Path: r.sinkPath})
	if err != nil {
		t.Fatal(err)
	}
	src, err := grants.New(grants.Config{Name: credName, Grant: grants.GrantRefreshToken, TokenURL: tokenURL,
		ClientID: "fm-client", ClientSecret: secret.New(clientSecret), HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	r.logs = logs
	r.sched, err = scheduler.New(scheduler.Options{Store: r.store, Logger: zap.New(core), Backoff: testBackoff, Observer: r.obs},
		[]scheduler.Credential{{Name: credName, Grant: grants.GrantRefreshToken, Source: src, Sinks: []scheduler.Sink{sink}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.sched.Run(ctx) }()
	t.Cleanup(r.stop)
	r.waitSink(goodAT)
	return r
}

// stop ends the scheduler and waits for it.
func (r *rig) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		r.t.Error("scheduler did not stop")
	}
}

// sink returns the file sink's content.
func (r *rig) sink() string {
	b, _ := os.ReadFile(r.sinkPath)
	return string(b)
}

// waitSink polls until the sink holds want.
func (r *rig) waitSink(want string) {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for r.sink() != want {
		if time.Now().After(deadline) {
			r.t.Fatalf("sink never held the expected token (holds %d bytes)", len(r.sink()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logged reports whether a log entry names the credential with the given
// error_class (any class when class is "").
func (r *rig) logged(class string) bool {
	for _, e := range r.logs.All() {
		m := e.ContextMap()
		if m["credential"] == credName && m["error_class"] != nil && (class == "" || m["error_class"] == class) {
			return true
		}
	}
	return false
}

// checkNoSecrets fails if any log entry or error holds a secret value.
func (r *rig) checkNoSecrets(extra ...string) {
	r.t.Helper()
	_, errs := r.obs.count()
	var all strings.Builder
	for _, e := range r.logs.All() {
		b, _ := json.Marshal(e.ContextMap())
		all.WriteString(e.Message + " " + string(b) + "\n")
	}
	for _, err := range errs {
		all.WriteString(err.Error() + "\n")
	}
	for _, s := range append([]string{seedRT, goodAT, clientSecret, newAT, newRT}, extra...) {
		if strings.Contains(all.String(), s) {
			r.t.Errorf("a log line or error holds a secret value (%s…)", s[:6])
		}
	}
}
