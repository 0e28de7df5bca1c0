// Package hook wraps a sink with a change hook: a command (argv, no shell)
// run after a write that changed the sink's file, for consumers that must be
// told to re-read their token (`systemctl reload myapp`, `nginx -s reload`).
//
// Whether a write changed anything is decided by the file itself: its bytes
// are hashed before and after the inner write, so re-writing the same token
// at start-up runs no hook, and a file shared by several credentials (an
// env-file) runs the hook when any of its lines changed. A failed or timed-out
// hook is logged and counted but never makes the write fail and is never
// retried: it runs again only at the next change, so a broken hook cannot
// spin in a tight loop.
package hook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/tokend/tokend/internal/sinks"
)

// Sink is what a hook wraps; the scheduler's Sink interface.
type Sink interface {
	Write(ctx context.Context, tok sinks.Token) error
	String() string
}

// Observer is told about every hook run, for metrics. It must be safe for
// concurrent use and must not block.
type Observer interface {
	HookRan(credential, sink string, took time.Duration, err error)
}

// Options configures a hooked sink.
type Options struct {
	// Path is the file the inner sink writes; its content decides whether
	// the hook runs.
	Path string
	// Argv is the command and its arguments; Argv[0] without a slash is
	// looked up in PATH when New is called.
	Argv []string
	// Timeout bounds one run (default 30s); the process group is killed
	// when it ends.
	Timeout time.Duration
	// Log receives one line per run with the command's (truncated) output.
	Log *zap.Logger
	// Observer, if set, is told about every run.
	Observer Observer
}

// MaxOutput is how much of a hook's combined stdout and stderr is kept for
// the log line.
const MaxOutput = 2048

// hookedSink runs a hook after writes that changed its file.
type hookedSink struct {
	inner   Sink
	path    string
	argv    []string
	timeout time.Duration
	log     *zap.Logger
	obs     Observer
}

// New wraps inner. It resolves Argv[0] now, so a missing program fails at
// start-up rather than at the first change. The returned sink's String is
// inner's, so a reload that only adds a hook keeps the sink's delivery state.
func New(inner Sink, opts Options) (Sink, error) {
	if len(opts.Argv) == 0 || opts.Argv[0] == "" {
		return nil, errors.New("change hook: no command")
	}
	if opts.Path == "" {
		return nil, errors.New("change hook: no sink path")
	}
	prog, err := exec.LookPath(opts.Argv[0])
	if err != nil {
		return nil, fmt.Errorf("change hook %q: %w", opts.Argv[0], err)
	}
	argv := append([]string{prog}, opts.Argv[1:]...)
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	return &hookedSink{inner: inner, path: opts.Path, argv: argv, timeout: opts.Timeout, log: opts.Log, obs: opts.Observer}, nil
}

// String names the inner sink.
func (h *hookedSink) String() string { return h.inner.String() }

// Write writes tok through the inner sink and, if that succeeded and changed
// the file, runs the hook before returning. The inner sink's error is
// returned as is; the hook's outcome is only logged and observed.
func (h *hookedSink) Write(ctx context.Context, tok sinks.Token) error {
	before, beforeErr := fileSum(h.path)
	if err := h.inner.Write(ctx, tok); err != nil {
		return err
	}
	after, afterErr := fileSum(h.path)
	if afterErr == nil && beforeErr == nil && before == after {
		return nil // same bytes: nothing for the consumer to reload
	}
	h.run(ctx, tok)
	return nil
}

// run executes the hook once. Its deadline is the hook timeout, not the
// sink write's; a cancelled ctx (hard shutdown) still stops it.
func (h *hookedSink) run(ctx context.Context, tok sinks.Token) {
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.timeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		if errors.Is(ctx.Err(), context.Canceled) {
			cancel()
		}
	})
	defer stop()

	cmd := exec.CommandContext(hctx, h.argv[0], h.argv[1:]...)
	cmd.Dir = "/"
	cmd.Env = hookEnv(tok, h.inner.String(), h.path)
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second // a grandchild holding the pipe cannot stall us
	setProcessGroup(cmd)

	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	switch {
	case err == nil:
	case errors.Is(hctx.Err(), context.DeadlineExceeded):
		err = fmt.Errorf("timed out after %s: %w", h.timeout, err)
	case hctx.Err() != nil:
		err = fmt.Errorf("stopped by shutdown: %w", err)
	}
	if h.obs != nil {
		h.obs.HookRan(tok.Credential, h.inner.String(), took, err)
	}
	fields := []zap.Field{
		zap.String("credential", tok.Credential), zap.String("sink", h.inner.String()),
		zap.Strings("command", h.argv), zap.Duration("took", took),
		zap.Uint64("generation", tok.Generation), zap.String("output", out.String()),
	}
	if err != nil {
		h.log.Warn("change hook failed; it runs again only at the next change", append(fields, zap.Error(err))...)
		return
	}
	h.log.Info("change hook ran", fields...)
}

// hookEnv is the hook's whole environment: PATH (to find programs) and what
// changed. The daemon's own environment is not passed on: it may hold client
// secrets (client_secret_env).
func hookEnv(tok sinks.Token, sink, path string) []string {
	p := os.Getenv("PATH")
	if p == "" {
		p = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	env := []string{
		"PATH=" + p,
		"TOKEND_CREDENTIAL=" + tok.Credential,
		"TOKEND_SINK=" + sink,
		"TOKEND_SINK_PATH=" + path,
		"TOKEND_GENERATION=" + strconv.FormatUint(tok.Generation, 10),
	}
	if !tok.ExpiresAt.IsZero() {
		env = append(env, "TOKEND_EXPIRES_AT="+tok.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return env
}

// fileSum hashes the file's content. An unreadable or missing file is an
// error, which Write treats as "changed".
func fileSum(path string) ([sha256.Size]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	return sha256.Sum256(b), nil
}

// limitedBuffer keeps the first MaxOutput bytes written to it and counts the
// rest. Writes never fail, so the command is never blocked or broken by it.
type limitedBuffer struct {
	buf     bytes.Buffer
	dropped int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	room := MaxOutput - l.buf.Len()
	if room >= len(p) {
		l.buf.Write(p)
		return len(p), nil
	}
	if room > 0 {
		l.buf.Write(p[:room])
	}
	l.dropped += len(p) - max(room, 0)
	return len(p), nil
}

// String returns the kept output, noting how much was cut.
func (l *limitedBuffer) String() string {
	s := string(bytes.TrimRight(l.buf.Bytes(), "\n"))
	if l.dropped > 0 {
		s += fmt.Sprintf("… (%d more bytes)", l.dropped)
	}
	return s
}
