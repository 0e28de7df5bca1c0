package hook

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/sinks"
)

// fileSink writes the raw token to path; fail makes the next write fail.
type fileSink struct {
	path string
	fail error
}

func (f *fileSink) Write(_ context.Context, tok sinks.Token) error {
	if f.fail != nil {
		return f.fail
	}
	return os.WriteFile(f.path, []byte(tok.AccessToken.Reveal()), 0o600)
}

func (f *fileSink) String() string { return "file:" + f.path }

type run struct {
	cred, sink string
	took       time.Duration
	err        error
}

type recObserver struct {
	mu   sync.Mutex
	runs []run
}

func (o *recObserver) HookRan(cred, sink string, took time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.runs = append(o.runs, run{cred, sink, took, err})
}

func (o *recObserver) all() []run {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]run(nil), o.runs...)
}

// script writes an executable /bin/sh script into dir.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

func token(v string, gen uint64) sinks.Token {
	return sinks.Token{Credential: "app", AccessToken: secret.New(v), TokenType: "Bearer", Generation: gen,
		ExpiresAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

type fixture struct {
	dir   string
	inner *fileSink
	sink  Sink
	obs   *recObserver
	logs  *observer.ObservedLogs
}

func newFixture(t *testing.T, argv []string, timeout time.Duration) *fixture {
	t.Helper()
	dir := t.TempDir()
	core, logs := observer.New(zapcore.DebugLevel)
	f := &fixture{dir: dir, inner: &fileSink{path: filepath.Join(dir, "token")}, obs: &recObserver{}, logs: logs}
	for i, a := range argv {
		argv[i] = strings.ReplaceAll(a, "$DIR", dir)
	}
	var err error
	f.sink, err = New(f.inner, Options{Path: f.inner.path, Argv: argv, Timeout: timeout, Log: zap.New(core), Observer: f.obs})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestHookRunsOnChangeOnlyWithCleanEnvironment(t *testing.T) {
	t.Setenv("BILLING_CLIENT_SECRET", "daemon-env-secret")
	dir := t.TempDir()
	sh := script(t, dir, "hook.sh", `env > "$TOKEND_SINK_PATH.env"; echo "reloaded $TOKEND_CREDENTIAL" >> "$TOKEND_SINK_PATH.runs"; echo hello-from-hook`)
	f := newFixture(t, []string{sh}, 5*time.Second)
	ctx := context.Background()

	if err := f.sink.Write(ctx, token("at-1-secretvalue", 1)); err != nil {
		t.Fatal(err)
	}
	// The same bytes again (a restart re-writing the stored token): no hook.
	if err := f.sink.Write(ctx, token("at-1-secretvalue", 1)); err != nil {
		t.Fatal(err)
	}
	if err := f.sink.Write(ctx, token("at-2-secretvalue", 2)); err != nil {
		t.Fatal(err)
	}
	runs, _ := os.ReadFile(f.inner.path + ".runs")
	if string(runs) != "reloaded app\nreloaded app\n" {
		t.Fatalf("hook runs %q, want exactly two (first write and the change)", runs)
	}
	env, _ := os.ReadFile(f.inner.path + ".env")
	for _, want := range []string{"TOKEND_CREDENTIAL=app", "TOKEND_GENERATION=2", "TOKEND_EXPIRES_AT=2030-01-02T03:04:05Z",
		"TOKEND_SINK=file:" + f.inner.path, "PATH="} {
		if !strings.Contains(string(env), want+"") {
			t.Errorf("hook environment lacks %q:\n%s", want, env)
		}
	}
	if strings.Contains(string(env), "daemon-env-secret") || strings.Contains(string(env), "secretvalue") {
		t.Fatal("the daemon's environment or the token reached the hook")
	}
	if got := f.obs.all(); len(got) != 2 || got[0].err != nil || got[1].cred != "app" || got[1].sink != "file:"+f.inner.path {
		t.Fatalf("observed runs: %+v", got)
	}
	ok := f.logs.FilterMessage("change hook ran").All()
	if len(ok) != 2 || ok[1].ContextMap()["output"] != "hello-from-hook" {
		t.Fatalf("log lines: %+v", f.logs.All())
	}
	for _, e := range f.logs.All() {
		for _, v := range e.ContextMap() {
			if s, isStr := v.(string); isStr && strings.Contains(s, "secretvalue") {
				t.Fatal("a token reached the log")
			}
		}
	}
}

func TestHookFailureIsLoggedCountedAndNotRetried(t *testing.T) {
	dir := t.TempDir()
	sh := script(t, dir, "fail.sh", `echo "cannot reload: unit not found" >&2; echo x >> "$TOKEND_SINK_PATH.runs"; exit 3`)
	f := newFixture(t, []string{sh}, 5*time.Second)
	ctx := context.Background()
	if err := f.sink.Write(ctx, token("at-1", 1)); err != nil {
		t.Fatalf("a failing hook failed the write: %v", err)
	}
	// The scheduler's sink retry (same content) does not run the hook again.
	for range 3 {
		if err := f.sink.Write(ctx, token("at-1", 1)); err != nil {
			t.Fatal(err)
		}
	}
	got := f.obs.all()
	if len(got) != 1 || got[0].err == nil || !strings.Contains(got[0].err.Error(), "exit status 3") {
		t.Fatalf("observed runs: %+v", got)
	}
	w := f.logs.FilterMessage("change hook failed; it runs again only at the next change").All()
	if len(w) != 1 || w[0].Level != zapcore.WarnLevel || w[0].ContextMap()["output"] != "cannot reload: unit not found" {
		t.Fatalf("failure log: %+v", f.logs.All())
	}
	// The next change runs it again.
	if err := f.sink.Write(ctx, token("at-2", 2)); err != nil {
		t.Fatal(err)
	}
	if runs, _ := os.ReadFile(f.inner.path + ".runs"); string(runs) != "x\nx\n" {
		t.Fatalf("runs %q", runs)
	}
}

func TestHookTimeoutKillsTheProcessGroup(t *testing.T) {
	dir := t.TempDir()
	// A background grandchild holding stdout open must not stall the write.
	sh := script(t, dir, "slow.sh", `sleep 30 & echo started; sleep 30`)
	f := newFixture(t, []string{sh}, 300*time.Millisecond)
	start := time.Now()
	if err := f.sink.Write(context.Background(), token("at-1", 1)); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("write with a hung hook took %s", took)
	}
	got := f.obs.all()
	if len(got) != 1 || got[0].err == nil || !strings.Contains(got[0].err.Error(), "timed out after 300ms") {
		t.Fatalf("observed: %+v", got)
	}
}

func TestHookOutlivesTheSinkWriteDeadlineButNotShutdown(t *testing.T) {
	dir := t.TempDir()
	sh := script(t, dir, "hook.sh", `sleep 0.3; echo done >> "$TOKEND_SINK_PATH.runs"`)
	f := newFixture(t, []string{sh}, 5*time.Second)
	// The scheduler's per-write deadline ending during the hook does not kill it.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := f.sink.Write(ctx, token("at-1", 1)); err != nil {
		t.Fatal(err)
	}
	if got := f.obs.all(); len(got) != 1 || got[0].err != nil {
		t.Fatalf("hook cut short by the write deadline: %+v", got)
	}
	// Cancellation (hard shutdown) does stop it.
	sh2 := script(t, dir, "hang.sh", `sleep 30`)
	f2 := newFixture(t, []string{sh2}, 30*time.Second)
	ctx2, cancel2 := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel2)
	start := time.Now()
	_ = f2.sink.Write(ctx2, token("at-1", 1))
	if got := f2.obs.all(); len(got) != 1 || got[0].err == nil || time.Since(start) > 5*time.Second ||
		!strings.Contains(got[0].err.Error(), "stopped by shutdown") {
		t.Fatalf("cancelled hook: %+v after %s", got, time.Since(start))
	}
}

func TestInnerFailureRunsNoHook(t *testing.T) {
	f := newFixture(t, []string{"/bin/true"}, time.Second)
	f.inner.fail = errors.New("disk full")
	if err := f.sink.Write(context.Background(), token("at-1", 1)); err == nil || err.Error() != "disk full" {
		t.Fatalf("inner error not returned as is: %v", err)
	}
	if len(f.obs.all()) != 0 {
		t.Fatal("hook ran after a failed write")
	}
	if f.sink.String() != f.inner.String() {
		t.Fatalf("String %q, want the inner sink's", f.sink.String())
	}
}

func TestHookOutputIsTruncated(t *testing.T) {
	f := newFixture(t, []string{"/bin/sh", "-c", `i=0; while [ $i -lt 500 ]; do echo 0123456789; i=$((i+1)); done`}, 5*time.Second)
	if err := f.sink.Write(context.Background(), token("at-1", 1)); err != nil {
		t.Fatal(err)
	}
	out := f.logs.FilterMessage("change hook ran").All()[0].ContextMap()["output"].(string)
	if !strings.HasPrefix(out, "0123456789\n") || !strings.HasSuffix(out, "… (3452 more bytes)") || len(out) > MaxOutput+40 {
		t.Fatalf("output %d bytes, ends %q", len(out), out[len(out)-30:])
	}
}

func TestNewChecksTheProgramAtStart(t *testing.T) {
	inner := &fileSink{path: filepath.Join(t.TempDir(), "t")}
	if _, err := New(inner, Options{Path: inner.path, Argv: []string{"no-such-program-tokend-test"}}); err == nil ||
		!strings.Contains(err.Error(), "no-such-program-tokend-test") {
		t.Fatalf("missing program: %v", err)
	}
	if _, err := New(inner, Options{Path: inner.path}); err == nil {
		t.Fatal("empty argv accepted")
	}
	if _, err := New(inner, Options{Path: inner.path, Argv: []string{"true"}}); err != nil {
		t.Fatalf("a program on PATH: %v", err)
	}
}
