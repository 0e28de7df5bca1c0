package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/syncbuf"
	"github.com/tokend/tokend/internal/testkit"
)

// buildBinary builds cmd/tokend into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed to build the binary: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "tokend")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startHung runs tokend against a token endpoint that never answers and
// returns once the daemon's token request for credential "hung" is in
// flight. extra is appended to the config.
func startHung(t *testing.T, bin, extra string) (*exec.Cmd, *syncbuf.Buffer, chan error) {
	t.Helper()
	asked := make(chan struct{})
	var once sync.Once
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(asked) })
		select { // hang until the client gives up or the test ends
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hung.rt"), []byte("seed-refresh-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgFn := filepath.Join(dir, "tokend.toml")
	cfg := testkit.Config{
		StateDir: filepath.Join(dir, "state"),
		Credentials: []testkit.Credential{{Name: "hung", TokenURL: srv.URL + "/token", ClientID: "hung",
			ClientSecret: "hung-secret-value", RefreshTokenFile: filepath.Join(dir, "hung.rt"),
			Sinks: []testkit.Sink{{Type: "file", Path: filepath.Join(dir, "hung.token")}}}},
	}.TOML() + extra
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
	select {
	case <-asked:
	case err := <-exited:
		t.Fatalf("tokend exited before asking the provider: %v\n%s", err, logs)
	case <-time.After(20 * time.Second):
		t.Fatalf("tokend never asked the provider\n%s", logs)
	}
	return cmd, logs, exited
}

// waitExit waits up to limit for the process and returns its exit code and how long it took.
func waitExit(t *testing.T, exited chan error, limit time.Duration, logs *syncbuf.Buffer) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), time.Since(start)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, time.Since(start)
	case <-time.After(limit):
		t.Fatalf("tokend still running %s after the signal (a hung token request holds shutdown)\n%s", limit, logs)
		return 0, 0
	}
}

// TestSIGTERMCancelsHungTokenRequest: with a provider that never answers,
// SIGTERM makes tokend exit within a few seconds (not the request timeout),
// logging one clean line for the cancelled request and no backoff.
func TestSIGTERMCancelsHungTokenRequest(t *testing.T) {
	bin := buildBinary(t)
	cmd, logs, exited := startHung(t, bin, "")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, took := waitExit(t, exited, 5*time.Second, logs)
	t.Logf("exited %d after %s", code, took.Round(time.Millisecond))
	out := logs.String()
	if code != 0 || !strings.Contains(out, "shutdown cancelled the token request before the provider answered") ||
		!strings.Contains(out, `"credential":"hung"`) || strings.Contains(out, "backing off") || !strings.Contains(out, `"stopped"`) {
		t.Fatalf("exit %d; logs:\n%s", code, out)
	}
}

// TestSecondSignalExitsAtOnce: a second signal during shutdown exits at once,
// naming the credential whose token request is abandoned.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	bin := buildBinary(t)
	cmd, logs, exited := startHung(t, bin, "")
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	testkit.WaitUntil(t, "the first signal to be logged", 5*time.Second, func() bool {
		return strings.Contains(logs.String(), "signal received; shutting down")
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, took := waitExit(t, exited, 2*time.Second, logs)
	t.Logf("exited %d after %s", code, took.Round(time.Millisecond))
	out := logs.String()
	if code != 128+int(syscall.SIGTERM) || !strings.Contains(out, "second signal: exiting at once") ||
		!strings.Contains(out, `"abandoned":["hung"]`) {
		t.Fatalf("exit %d; logs:\n%s", code, out)
	}
}

// TestRequestTimeoutBoundsTokenRequest: [scheduler] request_timeout bounds a
// token request to a provider that never answers.
func TestRequestTimeoutBoundsTokenRequest(t *testing.T) {
	bin := buildBinary(t)
	start := time.Now()
	_, logs, _ := startHung(t, bin, "\n[scheduler]\nrequest_timeout = \"1s\"\n")
	testkit.WaitUntil(t, "the hung request to time out", 10*time.Second, func() bool {
		return strings.Contains(logs.String(), "refresh failed; backing off")
	})
	if took := time.Since(start); took > 8*time.Second {
		t.Fatalf("the request took %s to time out; want about 1s", took)
	}
}
