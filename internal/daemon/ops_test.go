package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/status"
	"github.com/tokend/tokend/internal/testkit"
)

// edit rewrites the e2e config with fn.
func (e *e2e) edit(t *testing.T, fn func(string) string) {
	t.Helper()
	b, err := os.ReadFile(e.cfgFn)
	if err != nil {
		t.Fatal(err)
	}
	write(t, e.cfgFn, fn(string(b)))
}

func allOK(d *Daemon) func() bool {
	return func() bool {
		sts := d.Snapshot()
		for _, st := range sts {
			if st.Status != state.StatusOK {
				return false
			}
		}
		return len(sts) > 0
	}
}

func names(d *Daemon) string {
	var out []string
	for _, st := range d.Snapshot() {
		out = append(out, st.Name)
	}
	return strings.Join(out, ",")
}

func TestReloadAddsRemovesChangesAndRejects(t *testing.T) {
	e := newE2E(t, time.Hour)
	e.p.AddClient("new", "new-secret-value")
	d, logs, stop := e.start(t)
	stop = sync.OnceFunc(stop)
	defer stop()
	testkit.WaitUntil(t, "both credentials ok", 10*time.Second, allOK(d))

	// Remove svc, add "new", and give app a shorter window and a new sink.
	e.edit(t, func(s string) string {
		i := strings.Index(s, "[[credential]]\nname = \"svc\"")
		s = s[:i] + ccCredential("new", "new", e.url+"/token") + fmt.Sprintf(`  [[credential.sink]]
  type = "file"
  path = %q
`, filepath.Join(e.dir, "new.token"))
		return strings.Replace(s, `refresh_token_file`, `refresh_before = "59m"
refresh_token_file`, 1) + fmt.Sprintf(`
[[credential]]
name = "app2"
token_url = %q
client_id = "app"
client_secret_file = %q
refresh_token_file = %q
  [[credential.sink]]
  type = "file"
  path = %q
`, e.url+"/token", filepath.Join(e.dir, "app.secret"), filepath.Join(e.dir, "nope.rt"), filepath.Join(e.dir, "app2.token"))
	})
	if err := d.Reload(context.Background()); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if got := names(d); got != "app,new,app2" {
		t.Fatalf("credentials after reload: %s", got)
	}
	testkit.WaitUntil(t, "the added credential's sink", 10*time.Second, func() bool {
		b, err := os.ReadFile(filepath.Join(e.dir, "new.token"))
		return err == nil && e.p.ActiveAccessToken(string(b))
	})
	app := d.Snapshot()[0]
	// 59m before a 1h expiry is floored at a quarter of the lifetime (45m
	// before expiry); the default would be 20-25m before.
	if app.Status != state.StatusOK || app.ExpiresAt.Sub(app.NextRefresh) < 44*time.Minute {
		t.Fatalf("app did not pick up refresh_before = 59m: %+v", app)
	}
	if app2 := d.Snapshot()[2]; app2.Status != state.StatusNeedsReauth {
		t.Fatalf("app2 with an unreadable refresh_token_file: %+v", app2)
	}

	// An invalid config is rejected as a whole, every problem logged.
	before := d.Snapshot()
	e.edit(t, func(s string) string {
		s = strings.Replace(s, `client_id = "new"`, "client_id = \"new\"\ntpyo = 1", 1)
		s = strings.Replace(s, filepath.Join(e.dir, "new.token"), filepath.Join(e.dir, "missing-dir", "new.token"), 1)
		return s + "\n[[credential]]\nname = \"broken\"\n"
	})
	err := d.Reload(context.Background())
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"tpyo: unknown key", `credential "broken": token_url: is required`, `credential "broken": sink`} {
		js, _ := json.Marshal(want) // the log is JSON
		if !strings.Contains(err.Error(), want) || !strings.Contains(logs.String(), strings.Trim(string(js), `"`)) {
			t.Errorf("problem %q missing from the error or the log:\n%v", want, err)
		}
	}
	if n := strings.Count(logs.String(), "reload rejected; keeping the running config"); n != 1 {
		t.Errorf("the rejection logged on %d lines, want one with every problem", n)
	}
	if got := names(d); got != "app,new,app2" || len(d.Snapshot()) != len(before) {
		t.Fatalf("running config changed by a rejected reload: %s", got)
	}
	// A sink whose directory is missing is rejected too (checked at build).
	e.edit(t, func(s string) string {
		s = strings.Replace(s, "\ntpyo = 1", "", 1)
		return s[:strings.Index(s, "\n[[credential]]\nname = \"broken\"")]
	})
	if err := d.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "missing-dir") {
		t.Fatalf("missing sink directory: %v", err)
	}
	if v := scrapeValue(t, d, "tokend_config_reloads_total", "result", "error"); v != 2 {
		t.Fatalf("reload errors counted %v", v)
	}
	if v := scrapeValue(t, d, "tokend_config_reloads_total", "result", "ok"); v != 1 {
		t.Fatalf("reloads counted %v", v)
	}
	stop()
	// The removed credential's state is kept in the store.
	st, err := state.Open(filepath.Join(e.dir, "state"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if rec, err := st.Load(context.Background(), "svc"); err != nil || rec.AccessToken.IsZero() {
		t.Fatalf("removed credential's record: %v", err)
	}
}

// scrapeValue reads one series from the daemon's metrics handler.
func scrapeValue(t *testing.T, d *Daemon, fam, label, value string) float64 {
	t.Helper()
	srvAddr := serveMetrics(t, d)
	resp, err := http.Get("http://" + srvAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := fams[fam]
	if !ok {
		t.Fatalf("no %s", fam)
	}
	for _, m := range f.Metric {
		for _, lp := range m.Label {
			if lp.GetName() == label && lp.GetValue() == value {
				if m.Counter != nil {
					return m.Counter.GetValue()
				}
				return m.Gauge.GetValue()
			}
		}
	}
	t.Fatalf("no %s{%s=%q}", fam, label, value)
	return 0
}

func serveMetrics(t *testing.T, d *Daemon) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", d.Metrics().Handler())
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func TestStatusServerEndToEnd(t *testing.T) {
	e := newE2E(t, time.Hour)
	dir := t.TempDir()
	script := filepath.Join(dir, "hook.sh")
	write(t, script, "#!/bin/sh\necho \"$TOKEND_CREDENTIAL $TOKEND_GENERATION\" >> "+filepath.Join(dir, "hook.log")+"\n")
	if err := os.Chmod(script, 0o700); err != nil {
		t.Fatal(err)
	}
	e.edit(t, func(s string) string {
		s = strings.Replace(s, `format = "json"`, fmt.Sprintf("format = \"json\"\n  on_change = [%q]", script), 1)
		return s + "\n[status]\nlisten = \"127.0.0.1:0\"\n"
	})
	d, _, stop := e.start(t)
	stop = sync.OnceFunc(stop)
	defer stop()
	addr := d.StatusAddr()
	if addr == "" || strings.HasSuffix(addr, ":0") {
		t.Fatalf("status address %q", addr)
	}
	tokFile := filepath.Join(e.dir, "state", "admin.token")
	if fi, err := os.Stat(tokFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin token file: %v", err)
	}
	c, err := status.NewClient(addr, tokFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	testkit.WaitUntil(t, "ready", 10*time.Second, func() bool { r, err := c.Ready(ctx); return err == nil && r.Ready })

	app, err := c.Credential(ctx, "app")
	if err != nil || app.Generation != 1 || app.Status != state.StatusOK || len(app.Sinks) != 2 || !app.Sinks[0].OK {
		t.Fatalf("app: %+v %v", app, err)
	}
	// A forced refresh through the admin API rotates the token and runs the hook.
	if err := c.Refresh(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	testkit.WaitUntil(t, "generation 2", 10*time.Second, func() bool { st, _ := c.Credential(ctx, "app"); return st.Generation == 2 })
	testkit.WaitUntil(t, "two hook runs", 10*time.Second, func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "hook.log"))
		return string(b) == "app 1\napp 2\n"
	})
	if v := scrapeValue(t, d, "tokend_hook_runs_total", "credential", "app"); v != 2 {
		t.Fatalf("hook runs %v", v)
	}
	if v := scrapeValue(t, d, "tokend_refresh_attempts_total", "credential", "app"); v != 2 {
		t.Fatalf("refresh attempts %v", v)
	}
	if v := scrapeValue(t, d, "tokend_credential_generation", "credential", "app"); v != 2 {
		t.Fatalf("generation gauge %v", v)
	}

	// Import through the daemon (the store is locked by it): a new refresh
	// token from the provider, no access token, so tokend refreshes at once.
	rt := e.p.IssueRefreshToken("app", "read")
	if err := c.Import(ctx, "app", status.ImportRequest{RefreshToken: secret.New(rt)}); err != nil {
		t.Fatal(err)
	}
	testkit.WaitUntil(t, "refresh after import", 10*time.Second, func() bool {
		st, _ := c.Credential(ctx, "app")
		return st.Generation == 4 && st.Status == state.StatusOK
	})
	if e.p.Stats().Reuses != 0 {
		t.Fatal("a refresh token was reused")
	}
	// Reload through the admin API.
	if err := c.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	// Wrong token: refused.
	write(t, filepath.Join(dir, "wrong.token"), strings.Repeat("ab", 32))
	bad, _ := status.NewClient(addr, filepath.Join(dir, "wrong.token"))
	if err := bad.Refresh(ctx, "app"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong admin token: %v", err)
	}
	stop()
	if _, err := c.Credentials(ctx); err == nil {
		t.Fatal("status server still answering after Run returned")
	}
}

// notifySocket points NOTIFY_SOCKET at a fresh unixgram socket and returns
// a channel of the messages received.
func notifySocket(t *testing.T) <-chan string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sdn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	path := filepath.Join(dir, "n.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("NOTIFY_SOCKET", path)
	ch := make(chan string, 256)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(ch)
				return
			}
			ch <- string(buf[:n])
		}
	}()
	t.Cleanup(func() { _ = conn.Close() })
	return ch
}

func expectMsg(t *testing.T, ch <-chan string, prefix string) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-ch:
			if strings.HasPrefix(m, prefix) {
				return m
			}
		case <-deadline:
			t.Fatalf("no sd_notify message starting with %q", prefix)
		}
	}
}

func TestSystemdNotifications(t *testing.T) {
	ch := notifySocket(t)
	t.Setenv("WATCHDOG_USEC", strconv.Itoa(int((600 * time.Millisecond).Microseconds())))
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	e := newE2E(t, time.Hour)
	d, _, stop := e.start(t)
	stop = sync.OnceFunc(stop)
	defer stop()
	if m := expectMsg(t, ch, "READY=1"); !strings.Contains(m, "\nSTATUS=2 credentials: ") {
		t.Fatalf("READY without STATUS: %q", m)
	}
	expectMsg(t, ch, "STATUS=2 credentials: 2 ok, 0 backoff, 0 needs_reauth")
	// The loop iterates at least every third of the watchdog interval, so
	// pings keep coming with nothing else happening.
	for range 3 {
		expectMsg(t, ch, "WATCHDOG=1")
	}
	if err := d.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	expectMsg(t, ch, "RELOADING=1\nMONOTONIC_USEC=")
	expectMsg(t, ch, "READY=1\nSTATUS=2 credentials: 2 ok")
	stop()
	expectMsg(t, ch, "STOPPING=1")
}

func TestStatusLine(t *testing.T) {
	sts := []state.Status{state.StatusOK, state.StatusOK, state.StatusBackoff, state.StatusNeedsReauth, state.StatusPending}
	var in []scheduler.CredentialStatus
	for _, s := range sts {
		in = append(in, scheduler.CredentialStatus{Status: s})
	}
	if got := StatusLine(in); got != "5 credentials: 2 ok, 1 backoff, 1 needs_reauth, 1 pending" {
		t.Fatalf("%q", got)
	}
}
