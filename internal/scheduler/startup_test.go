package scheduler

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/syncbuf"
)

// perRecord hides a store's BulkLoader: start-up then loads one record at a
// time, as it did before LoadEach.
type perRecord struct{ Store }

// startupStore opens a file store in dir holding one credential of each
// start-up case: a valid token, one that needs re-authorization, one whose
// last refresh has an unknown outcome; "seeded" and "bare" have no record.
func startupStore(t testing.TB, dir string, now time.Time) *state.FileStore {
	st, err := state.Open(dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	valid := state.Record{Credential: "valid", RefreshToken: secret.New("rt-valid-secret"), AccessToken: secret.New("at-valid-secret"),
		TokenType: "Bearer", ExpiresAt: now.Add(time.Hour), IssuedAt: now.Add(-time.Minute), Generation: 3, Status: state.StatusOK}
	reauth := valid
	reauth.Credential, reauth.Status = "reauth", state.StatusNeedsReauth
	reauth.LastError = &state.ErrorInfo{Class: "permanent", Code: "invalid_grant", At: now.Add(-time.Hour)}
	unknown := valid.WithIntent(now.Add(-time.Second))
	unknown.Credential = "unknown"
	for _, rec := range []state.Record{valid, reauth, unknown} {
		if err := st.Save(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func startupCreds() []Credential {
	var creds []Credential
	for _, name := range []string{"valid", "reauth", "unknown", "seeded", "bare"} {
		c := Credential{Name: name, Grant: "refresh_token", Source: newStrictSource(time.Hour, "rt-x-secret"), Sinks: []Sink{&recSink{name: name}}}
		if name == "seeded" {
			c.Seed = seed("rt-seeded-secret")
		}
		creds = append(creds, c)
	}
	return creds
}

// TestStartupLoadsInOnePass: start-up through the file store's LoadEach
// leaves every credential exactly as loading one record at a time does,
// and logs one summary line instead of a line per valid credential.
func TestStartupLoadsInOnePass(t *testing.T) {
	now := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	st := startupStore(t, t.TempDir(), now)
	snap := func(store Store) ([]CredentialStatus, string) {
		var logs syncbuf.Buffer
		s, err := New(Options{Store: store, Logger: newLogger(&logs), Now: func() time.Time { return now },
			Rand: func() float64 { return 0.5 }}, startupCreds())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.startup(context.Background()); err != nil {
			t.Fatal(err)
		}
		return s.Snapshot(), logs.String()
	}
	bulk, logs := snap(st)
	one, _ := snap(perRecord{st})
	if !reflect.DeepEqual(bulk, one) {
		t.Fatalf("one pass:\n%+v\none record at a time:\n%+v", bulk, one)
	}
	want := map[string]state.Status{"valid": state.StatusOK, "reauth": state.StatusNeedsReauth, "unknown": state.StatusRefreshing,
		"seeded": state.StatusPending, "bare": state.StatusNeedsReauth}
	for _, cs := range bulk {
		if cs.Status != want[cs.Name] {
			t.Errorf("%s: status %s, want %s", cs.Name, cs.Status, want[cs.Name])
		}
	}
	var summary map[string]any
	for line := range strings.Lines(logs) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == "scheduler started" {
			summary = m
		}
		if m["msg"] == "loaded valid token" && m["level"] != "debug" {
			t.Errorf("a valid credential was logged at %s: %s", m["level"], line)
		}
	}
	for k, v := range map[string]float64{"credentials": 5, "loaded_valid": 1, "due_now": 1, "needs_reauth": 2, "outcome_unknown": 1} {
		if summary[k] != v {
			t.Errorf("summary %s = %v, want %v (%v)", k, summary[k], v, summary)
		}
	}
	for _, name := range []string{`"reauth"`, `"unknown"`, `"bare"`} { // what is wrong still has a line of its own
		if !strings.Contains(logs, `"credential":`+name) {
			t.Errorf("no line for credential %s:\n%s", name, logs)
		}
	}
}

// TestStartupStopsAtAnUnreadableRecord: a record that cannot be decoded
// stops start-up with the same error, naming the credential, whether the
// records are read in one pass or one at a time.
func TestStartupStopsAtAnUnreadableRecord(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	st := startupStore(t, dir, now)
	_ = st.Close()
	db, err := bolt.Open(filepath.Join(dir, "tokend.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("credentials")).Put([]byte("reauth"), []byte(`{"v":1,"zz":"x"}`))
	})
	if cerr := db.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	st, err = state.Open(dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var errs []string
	for _, store := range []Store{st, perRecord{st}} {
		s, err := New(Options{Store: store}, startupCreds())
		if err != nil {
			t.Fatal(err)
		}
		err = s.startup(context.Background())
		if err == nil || !strings.Contains(err.Error(), `loading state for "reauth"`) {
			t.Fatalf("start-up over a damaged record: %v", err)
		}
		errs = append(errs, err.Error())
	}
	if errs[0] != errs[1] {
		t.Fatalf("one pass: %s\none at a time: %s", errs[0], errs[1])
	}
}

// TestOnSettledOnceAfterTheStartupRound: OnSettled runs once, after the
// start-up round's work (here the seed's first refresh and its sink write),
// and not again for later refreshes.
func TestOnSettledOnceAfterTheStartupRound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var h *harness
		calls, writesThen := 0, -1
		h = newHarness(t, time.Hour, func(_ *Credential, o *Options) {
			o.OnSettled = func() { calls++; writesThen = h.sink.count() }
		})
		h.start()
		time.Sleep(time.Second)
		synctest.Wait()
		if calls != 1 || writesThen != 1 {
			t.Fatalf("after start-up: OnSettled called %d times, with %d sink writes done", calls, writesThen)
		}
		time.Sleep(5 * time.Second)
		if err := h.s.RefreshNow("cred"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if n := h.sink.count(); calls != 1 || n != 2 {
			t.Fatalf("after a later refresh: OnSettled called %d times, %d sink writes", calls, n)
		}
	})
}

// TestOnStartedRunsBeforeTheFirstJob: the statuses are known while
// OnStarted runs, and no job (here the seed's refresh) starts before it
// returns.
func TestOnStartedRunsBeforeTheFirstJob(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		h := newHarness(t, time.Hour, func(_ *Credential, o *Options) {
			o.OnStarted = func() { <-release }
		})
		h.start()
		time.Sleep(time.Minute)
		synctest.Wait()
		if n, _, _ := h.src.stats(); n != 0 || h.sink.count() != 0 || h.status().Status != state.StatusPending {
			t.Fatalf("while OnStarted runs: %d refreshes, %d sink writes, status %s", n, h.sink.count(), h.status().Status)
		}
		close(release)
		time.Sleep(time.Second)
		synctest.Wait()
		if n, _, _ := h.src.stats(); n != 1 || h.sink.count() != 1 {
			t.Fatalf("after OnStarted: %d refreshes, %d sink writes", n, h.sink.count())
		}
	})
}
