package daemon

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/status"
	"github.com/tokend/tokend/internal/testkit"
)

// makeUnwritable makes dir refuse new files: read-only, and for root (whom
// permissions do not stop) replaced by a regular file. It returns the undo.
func makeUnwritable(t *testing.T, dir string) func() {
	t.Helper()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		return func() {
			if err := os.Chmod(dir, 0o700); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Rename(dir, dir+".moved"); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "not a directory\n")
	return func() {
		if err := os.Remove(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(dir+".moved", dir); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
}

func getReady(t *testing.T, addr, query string) (int, status.ReadyReport) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/readyz" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r status.ReadyReport
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, r
}

// A file sink whose directory becomes read-only after the first write, with
// short-lived tokens: /readyz goes 503 naming the credential once the token
// the sink holds is about to expire, ?credential=other stays 200, the status
// shows the last success apart from the last attempt, the failure is logged
// once (not once per retry), and the recovery once.
func TestUnwritableSinkMakesItsCredentialNotReady(t *testing.T) {
	dir := t.TempDir()
	p, base := startProvider(t, 3*time.Second, "app", "app-secret-value", "other", "other-secret-value")
	roDir := filepath.Join(dir, "ro")
	if err := os.Mkdir(roDir, 0o700); err != nil {
		t.Fatal(err)
	}
	toml := testkit.Config{
		StateDir: filepath.Join(dir, "state"), ShutdownGrace: "5s", StatusListen: "127.0.0.1:0",
		Credentials: []testkit.Credential{
			{Name: "app", Grant: "client_credentials", TokenURL: base + "/token", ClientID: "app",
				ClientSecret: "app-secret-value", AuthStyle: "post",
				Sinks: []testkit.Sink{{Type: "file", Path: filepath.Join(roDir, "app.json"), Format: "json"}}},
			{Name: "other", Grant: "client_credentials", TokenURL: base + "/token", ClientID: "other",
				ClientSecret: "other-secret-value", AuthStyle: "post",
				Sinks: []testkit.Sink{{Type: "file", Path: filepath.Join(dir, "other.json"), Format: "json"}}},
		},
	}.TOML()
	e := &e2e{dir: dir, p: p, url: base, cfgFn: filepath.Join(dir, "tokend.toml")}
	write(t, e.cfgFn, toml)
	d, logs, stop := e.start(t)
	defer stop()
	addr := d.StatusAddr()
	testkit.WaitUntil(t, "ready", 10*time.Second, func() bool { code, _ := getReady(t, addr, ""); return code == 200 })
	if _, err := os.Stat(filepath.Join(roDir, "app.json")); err != nil {
		t.Fatal(err)
	}

	undo := makeUnwritable(t, roDir)
	failedAt := time.Now()
	var r status.ReadyReport
	testkit.WaitUntil(t, "/readyz 503 naming app", 15*time.Second, func() bool {
		var code int
		code, r = getReady(t, addr, "")
		return code == 503
	})
	if len(r.NotReady) != 1 || r.NotReady[0].Name != "app" || !strings.Contains(r.NotReady[0].Reason, "sink file:") {
		t.Fatalf("/readyz: %+v", r)
	}
	if code, r := getReady(t, addr, "?credential=other"); code != 200 || !r.Ready || r.Credentials != 1 {
		t.Fatalf("/readyz?credential=other: %d %+v", code, r)
	}
	if code, _ := getReady(t, addr, "?credential=app"); code != 503 {
		t.Fatalf("/readyz?credential=app: %d", code)
	}
	// Status: the last success stays behind the last attempt.
	for _, st := range d.Scheduler().Snapshot() {
		if st.Name != "app" {
			continue
		}
		sk := st.Sinks[0]
		if sk.OK || sk.LastError == "" || sk.LastSuccess.IsZero() || !sk.LastAttempt.After(sk.LastSuccess) ||
			sk.ExpiresAt.IsZero() || sk.Generation == 0 || sk.Generation >= st.Generation {
			t.Fatalf("app sink status: %+v", sk)
		}
		b, _ := json.Marshal(sk)
		if !strings.Contains(string(b), `"last_success"`) || !strings.Contains(string(b), `"last_attempt"`) || !strings.Contains(string(b), `"expires_at"`) {
			t.Fatalf("sink JSON: %s", b)
		}
	}
	// Several refreshes and sink retries later, still one failure line.
	testkit.WaitUntil(t, "two more refreshes", 15*time.Second, func() bool { return time.Since(failedAt) > 6*time.Second })
	if n := strings.Count(logs.String(), `"sink write failed`); n != 1 {
		t.Fatalf("%d sink failure lines in %v, want 1:\n%s", n, time.Since(failedAt), logs.String())
	}
	if n := strings.Count(logs.String(), `"sink write still failing`); n != 0 {
		t.Fatalf("%d repeat lines within a minute", n)
	}

	undo()
	testkit.WaitUntil(t, "ready again", 15*time.Second, func() bool { code, _ := getReady(t, addr, ""); return code == 200 })
	if n := strings.Count(logs.String(), `"sink write recovered"`); n != 1 {
		t.Fatalf("%d recovery lines, want 1", n)
	}
}
