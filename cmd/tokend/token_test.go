package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/fakeprovider"
	"github.com/tokend/tokend/internal/syncbuf"
	"github.com/tokend/tokend/internal/testkit"
)

// TestTokenCommandThroughCurl: `$(tokend token app)` and `$(tokend token
// --header app)` in a shell feed curl a header the API accepts; a
// credential needing re-authorization exits 3; an unknown one and a
// stopped daemon exit 1 with a clear message; the token is in no log.
func TestTokenCommandThroughCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatalf("curl is needed by this test: %v", err)
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	p, err := fakeprovider.New(fakeprovider.Options{AccessTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	p.AddClient("app", "app-secret-value")
	base, err := p.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	rt := filepath.Join(dir, "app.rt")
	if err := os.WriteFile(rt, []byte(p.IssueRefreshToken("app", "read")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgFn := filepath.Join(dir, "tokend.toml")
	cred := func(name, rtFile string) testkit.Credential {
		return testkit.Credential{Name: name, TokenURL: base + "/token", ClientID: "app", ClientSecret: "app-secret-value",
			RefreshTokenFile: rtFile, Sinks: []testkit.Sink{{Type: "file", Path: filepath.Join(dir, name+".token")}}}
	}
	cfg := testkit.Config{StateDir: filepath.Join(dir, "state"), StatusListen: "unix:" + filepath.Join(dir, "tokend.sock"),
		Credentials: []testkit.Credential{cred("app", rt), cred("lost", "")}}.TOML()
	if err := os.WriteFile(cfgFn, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	// The API accepts only a token the provider issued and that is live.
	var served atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !p.ActiveAccessToken(tok) {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		served.Add(1)
		_, _ = w.Write([]byte("hello"))
	}))
	t.Cleanup(api.Close)

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
	testkit.WaitUntil(t, "tokend token app to answer", 15*time.Second, func() bool {
		code, _, _ := runBin(t, bin, nil, "token", "-c", cfgFn, "app")
		return code == 0
	})

	env := []string{"TOKEND=" + bin, "CFG=" + cfgFn, "CURL=" + curl, "URL=" + api.URL}
	for _, script := range []string{
		`"$CURL" -sS --fail --noproxy '*' -H "Authorization: Bearer $("$TOKEND" token --config "$CFG" app)" "$URL"`,
		`"$CURL" -sS --fail --noproxy '*' -H "$("$TOKEND" token app --header -c "$CFG")" "$URL"`,
	} {
		sh := exec.Command("sh", "-c", script)
		sh.Env = append(os.Environ(), env...)
		out, err := sh.CombinedOutput()
		if err != nil || string(out) != "hello" {
			t.Fatalf("%s: %v\n%s", script, err, out)
		}
	}
	if served.Load() != 2 {
		t.Fatalf("the API served %d requests, want 2", served.Load())
	}
	code, out, _ := runBin(t, bin, nil, "token", "-c", cfgFn, "app")
	if sink, _ := os.ReadFile(filepath.Join(dir, "app.token")); code != 0 || out != string(sink)+"\n" {
		t.Fatalf("token: %d %q, the sink holds %q", code, out, sink)
	}
	accessToken := strings.TrimSpace(out)

	code, out, stderr := runBin(t, bin, nil, "token", "-c", cfgFn, "lost")
	if code != exitNeedsReauth || out != "" || !strings.Contains(stderr, "needs re-authorization") {
		t.Fatalf("token lost: %d %q %q", code, out, stderr)
	}
	if code, _, stderr := runBin(t, bin, nil, "token", "-c", cfgFn, "nope"); code != exitError || !strings.Contains(stderr, `unknown credential "nope"`) {
		t.Fatalf("token nope: %d %q", code, stderr)
	}
	if code, _, _ := runBin(t, bin, nil, "token", "-c", cfgFn); code != exitUsage {
		t.Fatalf("token without a name: exit %d", code)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Fatalf("tokend exited with %v\n%s", err, logs.String())
	}
	code, _, stderr = runBin(t, bin, nil, "token", "-c", cfgFn, "app")
	if code != exitError || !strings.Contains(stderr, "tokend is not reachable") || !strings.Contains(stderr, "is `tokend run` running") {
		t.Fatalf("token with the daemon stopped: %d %q", code, stderr)
	}
	for _, s := range append(p.IssuedRefreshTokens(), accessToken, "app-secret-value") {
		if s != "" && strings.Contains(logs.String(), s) {
			t.Fatal("a token or secret in the daemon's log")
		}
	}
}
