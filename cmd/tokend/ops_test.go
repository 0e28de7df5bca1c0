package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/fakeprovider"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/syncbuf"
	"github.com/tokend/tokend/internal/testkit"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, s...), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRunBinaryWithStatusCommandsAndSIGHUP builds tokend, runs it against
// the strict fake provider, and drives it as an operator would: status,
// refresh, SIGHUP (add, invalid), reload, exit codes, SIGTERM.
func TestRunBinaryWithStatusCommandsAndSIGHUP(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed to build the binary: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "tokend")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	p, err := fakeprovider.New(fakeprovider.Options{AccessTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	p.AddClient("app", "app-secret-value")
	p.AddClient("svc", "svc-secret-value")
	base, err := p.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	if err := os.WriteFile(filepath.Join(dir, "app.rt"), []byte(p.IssueRefreshToken("app", "read")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgFn := filepath.Join(dir, "tokend.toml")
	cfg := testkit.Config{
		StateDir:     filepath.Join(dir, "state"),
		StatusListen: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		Credentials: []testkit.Credential{{Name: "app", TokenURL: base + "/token", ClientID: "app",
			ClientSecret: "app-secret-value", RefreshTokenFile: filepath.Join(dir, "app.rt"),
			Sinks: []testkit.Sink{{Type: "file", Path: filepath.Join(dir, "app.token")}}}},
	}.TOML()
	if err := os.WriteFile(cfgFn, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	logs := &syncbuf.Buffer{}
	cmd := exec.Command(bin, "run", "--config", cfgFn)
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	var out string
	testkit.WaitUntil(t, "tokend status to show app ok", 15*time.Second, func() bool {
		var code int
		code, out, _ = run("status", "--config", cfgFn)
		return code == 0 && strings.Contains(out, "app    ok")
	})
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 ||
		!strings.HasPrefix(lines[0], "NAME   STATUS   EXPIRES   NEXT-REFRESH   LAST-ERROR") ||
		!strings.Contains(lines[1], "in 59m") || !strings.HasSuffix(lines[1], "-") {
		t.Fatalf("status table:\n%s", out)
	}
	code, out, _ := run("status", "--config", cfgFn, "-o", "json")
	var sts []scheduler.CredentialStatus
	if err := json.Unmarshal([]byte(out), &sts); code != 0 || err != nil || len(sts) != 1 || sts[0].Generation != 1 {
		t.Fatalf("status -o json: %d %v %s", code, err, out)
	}

	// tokend refresh goes through the daemon and waits for the result.
	code, out, stderr := run("refresh", "--config", cfgFn, "app")
	if code != 0 || !strings.Contains(out, "app: refreshed (generation 2") {
		t.Fatalf("refresh: %d %q %q", code, out, stderr)
	}
	if code, _, stderr := run("refresh", "--config", cfgFn, "nope"); code != 1 || !strings.Contains(stderr, `unknown credential "nope"`) {
		t.Fatalf("refresh unknown: %d %q", code, stderr)
	}

	// SIGHUP with an added credential starts it.
	appendFile(t, cfgFn, fmt.Sprintf(`
[[credential]]
name = "svc"
grant = "client_credentials"
token_url = %q
client_id = "svc"
client_secret = "svc-secret-value"
auth_style = "post"
  [[credential.sink]]
  type = "file"
  path = %q
`, base+"/token", filepath.Join(dir, "svc.token")))
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testkit.WaitUntil(t, "svc started by SIGHUP", 15*time.Second, func() bool {
		_, out, _ := run("status", "--config", cfgFn)
		return strings.Contains(out, "svc    ok")
	})

	// SIGHUP with an invalid config: rejected, logged, still running.
	good, _ := os.ReadFile(cfgFn)
	appendFile(t, cfgFn, "\n[[credential]]\nname = \"broken\"\n")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testkit.WaitUntil(t, "the rejection in the log", 15*time.Second, func() bool {
		return strings.Contains(logs.String(), `"problem":"credential \"broken\".token_url: is required`)
	})
	if code, out, _ := run("status", "--config", cfgFn); code != 0 || !strings.Contains(out, "app ") || !strings.Contains(out, "svc ") || strings.Contains(out, "broken") {
		t.Fatalf("after a rejected reload: %d\n%s", code, out)
	}
	// tokend reload prints every problem and exits 1.
	code, _, stderr = run("reload", "--config", cfgFn)
	if code != 1 || !strings.Contains(stderr, `credential "broken".client_id: is required`) || !strings.Contains(stderr, `credential "broken".sink`) {
		t.Fatalf("reload invalid: %d %q", code, stderr)
	}

	// A credential with no refresh token needs re-authorization: exit 3.
	if err := os.WriteFile(cfgFn, append(good, fmt.Sprintf(`
[[credential]]
name = "lost"
token_url = %q
client_id = "app"
client_secret = "app-secret-value"
  [[credential.sink]]
  type = "file"
  path = %q
`, base+"/token", filepath.Join(dir, "lost.token"))...), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := run("reload", "--config", cfgFn); code != 0 || out != "reloaded: 3 credentials\n" {
		t.Fatalf("reload: %d %q %q", code, out, stderr)
	}
	code, out, _ = run("status", "--config", cfgFn)
	if code != exitNeedsReauth || !strings.Contains(out, "lost   needs_reauth") || !strings.Contains(out, "no_refresh_token: no refresh token stored") {
		t.Fatalf("status with a credential needing re-authorization: %d\n%s", code, out)
	}

	// SIGTERM: clean exit 0; then the CLI reports the daemon unreachable.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("tokend exited with %v\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("tokend did not stop on SIGTERM")
	}
	if code, _, stderr := run("status", "--config", cfgFn); code != 1 || !strings.Contains(stderr, "not reachable") {
		t.Fatalf("status with the daemon stopped: %d %q", code, stderr)
	}
	for _, s := range append(p.IssuedRefreshTokens(), "app-secret-value", "svc-secret-value") {
		if strings.Contains(logs.String(), s) {
			t.Fatal("a token or secret in the daemon's log")
		}
	}
	if p.Stats().Reuses != 0 {
		t.Fatal("a refresh token was reused")
	}
}

func TestOpsCommandsWithoutADaemon(t *testing.T) {
	dir := t.TempDir()
	noStatus := filepath.Join(dir, "nostatus.toml")
	if err := os.WriteFile(noStatus, []byte("[state]\ndir = \"/x\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"status"}, {"reload"}, {"refresh", "app"}} {
		code, _, stderr := run(append(args, "--config", noStatus)...) // refresh: flags after the name work too
		if code != 1 || !strings.Contains(stderr, "no [status] table") {
			t.Errorf("%v without [status]: %d %q", args, code, stderr)
		}
	}
	if code, _, _ := run("refresh", "--config", noStatus); code != exitUsage {
		t.Errorf("refresh without a name: exit %d", code)
	}
	if code, _, _ := run("status", "--config", noStatus, "-o", "yaml"); code != exitUsage {
		t.Errorf("status -o yaml: exit %d", code)
	}
}

func TestStatusTableFormatting(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		t    time.Time
		want string
	}{
		{time.Time{}, "-"},
		{now.Add(42 * time.Second), "in 42s"},
		{now.Add(42*time.Minute + 10*time.Second), "in 42m"},
		{now.Add(3*time.Hour + 5*time.Minute), "in 3h5m"},
		{now.Add(2 * time.Hour), "in 2h"},
		{now.Add(50 * time.Hour), "in 2d2h"},
		{now.Add(-3 * time.Minute), "3m ago"},
	} {
		if got := relative(now, c.t); got != c.want {
			t.Errorf("relative(%v) = %q, want %q", c.t.Sub(now), got, c.want)
		}
	}
	var buf bytes.Buffer
	printTable(&buf, []scheduler.CredentialStatus{
		{Name: "apicbase-prod", Status: state.StatusOK, ExpiresAt: now.Add(time.Hour), NextRefresh: now.Add(40 * time.Minute)},
		{Name: "billing", Status: state.StatusBackoff, ExpiresAt: now.Add(-time.Minute),
			LastError: &state.ErrorInfo{Class: "transient", Code: "network", Description: strings.Repeat("connection refused ", 10)}},
		{Name: "x", Status: state.StatusOK, Sinks: []scheduler.SinkStatus{{Name: "file:/run/x", LastError: "disk full"}}},
	}, now)
	want := `NAME            STATUS    EXPIRES   NEXT-REFRESH   LAST-ERROR
apicbase-prod   ok        in 1h     in 40m         -
billing         backoff   1m ago    -              network: connection refused connection refused connection r…
x               ok        -         -              sink file:/run/x: disk full
`
	if buf.String() != want {
		t.Fatalf("table:\n%s\nwant:\n%s", buf.String(), want)
	}
}

// A failing sink is listed with its last success apart from its last
// attempt, and one whose token expires within a minute makes the exit code 5 (4 is a damaged store).
func TestStatusSinksTableAndExitCode(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	sts := []scheduler.CredentialStatus{
		{Name: "app", Status: state.StatusOK, Sinks: []scheduler.SinkStatus{
			{Name: "file:/run/app.json", OK: false, Generation: 4, ExpiresAt: now.Add(30 * time.Second),
				LastSuccess: now.Add(-5 * time.Minute), LastAttempt: now.Add(-2 * time.Second), LastError: "read-only file system"},
			{Name: "file:/run/app2.json", OK: true, Generation: 5, ExpiresAt: now.Add(time.Hour),
				LastSuccess: now.Add(-2 * time.Second), LastAttempt: now.Add(-2 * time.Second)}}},
		{Name: "other", Status: state.StatusOK, Sinks: []scheduler.SinkStatus{{Name: "file:/run/o.json"}}},
	}
	var buf bytes.Buffer
	printSinks(&buf, sts, now, false)
	want := `
CREDENTIAL   SINK                 SINK-STATUS   LAST-SUCCESS   LAST-ATTEMPT   TOKEN-EXPIRES
app          file:/run/app.json   failing       5m ago         2s ago         in 30s
`
	if buf.String() != want {
		t.Fatalf("failing sinks:\n%q\nwant:\n%q", buf.String(), want)
	}
	buf.Reset()
	printSinks(&buf, sts, now, true)
	if lines := strings.Split(strings.TrimSpace(buf.String()), "\n"); len(lines) != 4 ||
		strings.Join(strings.Fields(lines[3]), " ") != "other file:/run/o.json pending - - -" {
		t.Fatalf("all sinks:\n%s", buf.String())
	}
	if got := statusExit(sts, now); got != exitSinkStale {
		t.Fatalf("exit %d, want %d", got, exitSinkStale)
	}
	if got := statusExit(sts, now.Add(-time.Minute)); got != exitOK {
		t.Fatalf("content good for 90s: exit %d, want 0", got)
	}
	buf.Reset()
	printSinks(&buf, sts[1:], now, false)
	if buf.Len() != 0 {
		t.Fatalf("no failing sink printed %q", buf.String())
	}
}

// The refresh token's expiry is listed for the credentials that have one.
func TestStatusRefreshTokenExpiry(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	sts := []scheduler.CredentialStatus{
		{Name: "github", Status: state.StatusOK, RefreshTokenExpiresAt: now.Add(183 * 24 * time.Hour)},
		{Name: "plain", Status: state.StatusOK},
	}
	var buf bytes.Buffer
	printRefreshTokens(&buf, sts, now)
	want := `
CREDENTIAL   REFRESH-TOKEN-EXPIRES
github       in 183d
`
	if buf.String() != want {
		t.Fatalf("refresh tokens:\n%q\nwant:\n%q", buf.String(), want)
	}
	buf.Reset()
	printRefreshTokens(&buf, sts[1:], now)
	if buf.Len() != 0 {
		t.Fatalf("printed %q for credentials without a refresh-token expiry", buf.String())
	}
}
