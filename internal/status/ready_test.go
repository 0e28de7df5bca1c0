package status

import (
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/state"
)

// A failing sink whose token expires within SinkExpiryMargin (or has
// expired, or was never written) makes its credential not ready, by name;
// ?credential= answers for the named credentials only.
func TestReadyzSinksAndPerCredential(t *testing.T) {
	ts := startServer(t, "127.0.0.1:0", healthyBackend())
	failing := func(exp time.Time, lastOK time.Time) []scheduler.SinkStatus {
		return []scheduler.SinkStatus{{Name: "file:/run/tokend/app.json", OK: false, Generation: 3, ExpiresAt: exp,
			LastSuccess: lastOK, LastAttempt: testNow, LastError: "read-only file system"}}
	}
	for _, c := range []struct {
		name  string
		sinks []scheduler.SinkStatus
		ready bool
		want  string
	}{
		{"failing, content good for 2m", failing(testNow.Add(2*time.Minute), testNow.Add(-time.Minute)), true, ""},
		{"failing, content expires in 30s", failing(testNow.Add(30*time.Second), testNow.Add(-time.Minute)), false, "expires at"},
		{"failing, content expired", failing(testNow.Add(-time.Second), testNow.Add(-time.Minute)), false, "expired at"},
		{"failing, never written", failing(time.Time{}, time.Time{}), false, "never been written"},
		{"failing, unknown expiry", failing(time.Time{}, testNow.Add(-time.Minute)), true, ""},
		{"ok, content expires in 30s", []scheduler.SinkStatus{{Name: "s", OK: true, ExpiresAt: testNow.Add(30 * time.Second)}}, true, ""},
	} {
		ts.b.set(func(b *fakeBackend) { b.sts = healthyBackend().sts; b.sts[0].Sinks = c.sinks })
		code, _, body := call(t, ts, "GET", "/readyz", "", "")
		r := decode[ReadyReport](t, body)
		if c.ready != (code == 200) || r.Ready != c.ready {
			t.Fatalf("%s: /readyz %d %s", c.name, code, body)
		}
		if !c.ready && (len(r.NotReady) != 1 || r.NotReady[0].Name != "app" || !strings.Contains(r.NotReady[0].Reason, c.want) ||
			!strings.Contains(r.NotReady[0].Reason, "file:/run/tokend/app.json")) {
			t.Fatalf("%s: /readyz %s", c.name, body)
		}
		if got := SinkProblem(healthyBackend().sts[0], testNow); got != "" {
			t.Fatalf("healthy sink: %q", got)
		}
	}
	// One credential in needs_reauth: the others' consumers stay ready.
	ts.b.set(func(b *fakeBackend) {
		b.sts = healthyBackend().sts
		b.sts = append(b.sts, scheduler.CredentialStatus{Name: "gone", Status: state.StatusNeedsReauth})
	})
	for path, want := range map[string]int{
		"/readyz":                                503,
		"/readyz?credential=app":                 200,
		"/readyz?credential=app&credential=svc":  200,
		"/readyz?credential=app&credential=gone": 503,
		"/readyz?credential=gone":                503,
		"/readyz?credential=nosuch":              503,
		"/readyz?credential=app&credential=app":  200,
	} {
		code, _, body := call(t, ts, "GET", path, "", "")
		r := decode[ReadyReport](t, body)
		if code != want || r.Ready != (want == 200) {
			t.Fatalf("%s: %d %s, want %d", path, code, body, want)
		}
		if strings.Contains(path, "credential=app&credential=app") && r.Credentials != 1 {
			t.Fatalf("%s: %s", path, body)
		}
		if strings.Contains(path, "nosuch") && (len(r.NotReady) != 1 || r.NotReady[0].Name != "nosuch") {
			t.Fatalf("%s: %s", path, body)
		}
	}
}
