package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/logging"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/status"
	"github.com/tokend/tokend/internal/syncbuf"
	"github.com/tokend/tokend/internal/testkit"
)

// issuer is an authorization server's metadata endpoint that can go down:
// while down it drops every connection (a network failure, not an answer).
type issuer struct {
	*httptest.Server
	down  atomic.Bool
	asked atomic.Int64
}

func newIssuer(t *testing.T, tokenURL string) *issuer {
	t.Helper()
	is := &issuer{}
	is.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		is.asked.Add(1)
		if is.down.Load() {
			panic(http.ErrAbortHandler) // drops the connection
		}
		if r.URL.Path != "/.well-known/oauth-authorization-server" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": is.URL, "token_endpoint": tokenURL})
	}))
	t.Cleanup(is.Close)
	return is
}

// TestDiscoveryDoesNotTakeTheDaemonDown (issue 12 item 6), through the
// daemon: an issuer that is down at start-up falls back to the metadata
// stored at the last success and refreshes go on; a credential whose issuer
// is down with nothing stored waits in backoff alone while the others work;
// when its issuer comes back it recovers.
func TestDiscoveryDoesNotTakeTheDaemonDown(t *testing.T) {
	dir := t.TempDir()
	p, base := startProvider(t, 2*time.Second, "a", "a-secret-value", "b", "b-secret-value", "c", "c-secret-value")
	known, fresh := newIssuer(t, base+"/token"), newIssuer(t, base+"/token")
	cred := func(name, extra string) string {
		return fmt.Sprintf("[[credential]]\nname = %q\ngrant = \"client_credentials\"\nclient_id = %q\nclient_secret = \"%s-secret-value\"\nauth_style = \"post\"\n%s\n"+
			"  [[credential.sink]]\n  type = \"file\"\n  path = %q\n\n", name, name, name, extra, filepath.Join(dir, name+".token"))
	}
	head := fmt.Sprintf("[state]\ndir = %q\n[scheduler]\nshutdown_grace = \"5s\"\n\n", filepath.Join(dir, "state"))
	first := filepath.Join(dir, "first.toml")
	write(t, first, head+cred("a", fmt.Sprintf("issuer = %q", known.URL)))
	all := filepath.Join(dir, "all.toml")
	write(t, all, head+cred("a", fmt.Sprintf("issuer = %q", known.URL))+cred("b", fmt.Sprintf("issuer = %q", fresh.URL))+
		cred("c", fmt.Sprintf("token_url = %q", base+"/token")))

	run := func(path string) (*Daemon, *syncbuf.Buffer, func()) {
		t.Helper()
		cfg, err := LoadConfig(context.Background(), path, LoadOptions{DeferDiscovery: true})
		if err != nil {
			t.Fatal(err)
		}
		logs := &syncbuf.Buffer{}
		log, _ := logging.New(logs, "debug")
		d, err := New(cfg, log, scheduler.Options{Backoff: scheduler.Backoff{Min: 100 * time.Millisecond, Max: 300 * time.Millisecond}})
		if err != nil {
			t.Fatalf("daemon did not start: %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		return d, logs, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}
	statusOf := func(d *Daemon, name string) scheduler.CredentialStatus {
		for _, st := range d.Scheduler().Snapshot() {
			if st.Name == name {
				return st
			}
		}
		t.Fatalf("no credential %q", name)
		return scheduler.CredentialStatus{}
	}

	// 1. The issuer is up: discovered, stored.
	d, _, stopFirst := run(first)
	testkit.WaitUntil(t, "a's first token", 10*time.Second, func() bool { return statusOf(d, "a").Status == state.StatusOK })
	stopFirst()

	// 2. Both issuers down at start-up.
	known.down.Store(true)
	fresh.down.Store(true)
	before := p.Stats().ClientCredentials
	d, logs, stop := run(all)
	defer stop()
	testkit.WaitUntil(t, "a refreshing with stored metadata, c working", 15*time.Second, func() bool {
		return p.Stats().ClientCredentials >= before+3 && statusOf(d, "a").Generation >= 2 && statusOf(d, "c").Status == state.StatusOK
	})
	testkit.WaitUntil(t, "b in backoff", 10*time.Second, func() bool {
		st := statusOf(d, "b")
		return st.Status == state.StatusBackoff && st.LastError != nil && st.LastError.Code == "discovery_failed" && st.Attempt >= 2
	})
	if !strings.Contains(logs.String(), "discovery failed; using metadata discovered at ") ||
		!strings.Contains(logs.String(), "discovery failed and no metadata is stored; the credential waits in backoff") {
		t.Fatalf("the fallbacks were not logged:\n%s", logs.String())
	}
	if st := statusOf(d, "a"); st.Status != state.StatusOK {
		t.Fatalf("a: %+v", st)
	}
	sts, now := d.Scheduler().Snapshot(), time.Now()
	if r := status.ReadinessOf(true, sts, []string{"a", "c"}, now); !r.Ready {
		t.Fatalf("a and c not ready: %+v", r)
	}
	if r := status.ReadinessOf(true, sts, nil, now); r.Ready || len(r.NotReady) != 1 || r.NotReady[0].Name != "b" {
		t.Fatalf("readiness = %+v, want only b not ready", r)
	}

	// 3. b's issuer comes back: b recovers without a restart.
	fresh.down.Store(false)
	testkit.WaitUntil(t, "b recovered", 10*time.Second, func() bool { return statusOf(d, "b").Status == state.StatusOK })
	if !strings.Contains(logs.String(), "issuer discovered; the credential's endpoints are known now") {
		t.Fatalf("recovery not logged:\n%s", logs.String())
	}
	for _, secret := range []string{"a-secret-value", "b-secret-value", "c-secret-value"} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("a client secret appears in the logs")
		}
	}
}

// TestDiscoveryWrongAnswerStillFailsStart: an issuer that answers without
// metadata (a wrong issuer URL, not an outage) still stops start-up when
// nothing is stored, as a discovery LoadError.
func TestDiscoveryWrongAnswerStillFailsStart(t *testing.T) {
	dir := t.TempDir()
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	path := filepath.Join(dir, "tokend.toml")
	write(t, path, fmt.Sprintf("[state]\ndir = %q\n[[credential]]\nname = \"x\"\ngrant = \"client_credentials\"\nclient_id = \"x\"\nclient_secret = \"s\"\nissuer = %q\n"+
		"  [[credential.sink]]\n  type = \"file\"\n  path = %q\n", filepath.Join(dir, "state"), srv.URL, filepath.Join(dir, "x.token")))
	cfg, err := LoadConfig(context.Background(), path, LoadOptions{DeferDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	log, _ := logging.New(&syncbuf.Buffer{}, "debug")
	_, err = New(cfg, log, scheduler.Options{})
	if loadStage(err) != StageDiscovery || !strings.Contains(err.Error(), `credential "x": discovery`) {
		t.Fatalf("New = %v, want a discovery LoadError", err)
	}
	// The store was closed again: a second attempt can open it.
	if st, err := state.Open(filepath.Join(dir, "state"), state.Options{}); err != nil {
		t.Fatalf("store left locked: %v", err)
	} else {
		_ = st.Close()
	}
}
