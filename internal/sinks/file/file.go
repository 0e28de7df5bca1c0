// Package file is the sink that writes a credential's access token to a file
// of its own, for consumers that read a token from disk (curl -H @file,
// systemd LoadCredential=, sidecars). Every write atomically replaces the
// file, so a consumer reading at any moment sees one complete token.
package file

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/tokend/tokend/internal/atomicfile"
	"github.com/tokend/tokend/internal/sinks"
)

// Formats a Sink can write.
const (
	// FormatRaw writes exactly the access token bytes, no trailing newline.
	FormatRaw = "raw"
	// FormatJSON writes {"access_token","token_type","expires_at","scope"}
	// and a trailing newline; expires_at (RFC 3339, UTC) is omitted when
	// the provider gave no expiry and scope when it is empty.
	FormatJSON = "json"
)

// DefaultMode is the file mode used when Options.Mode is 0.
const DefaultMode fs.FileMode = 0o600

// Options configures a Sink.
type Options struct {
	Path   string      // file to write; its directory must exist
	Format string      // FormatRaw (default when empty) or FormatJSON
	Mode   fs.FileMode // permission bits; 0 means DefaultMode (0600)
	// CheckDir, if set, replaces atomicfile.CheckDirWritable as New's
	// start-up check of the directory: a daemon with thousands of sinks in
	// one directory passes a memoized check so it probes each directory once.
	CheckDir func(dir string) error
	// DirSync, if set, makes each write's rename durable through a shared
	// directory-fsync group, so sinks written at the same time into one
	// directory share one fsync of it. Nil: each write fsyncs the directory
	// itself (atomicfile.WriteFile).
	DirSync *atomicfile.DirSyncer
	// Slots, if set, bounds the writes in flight across the sinks that share
	// it: a write holds a slot (a value sent into it) from before the temp
	// file is created until the rename is durable, and waits for one,
	// honouring ctx, when all are taken. Each write blocked in fsync holds an
	// OS thread, and the Go runtime keeps every thread it started (with its
	// stacks) for the life of the process: without a bound, a start-up burst
	// grows one thread per concurrent writer.
	Slots chan struct{}
	// Encode, if set, replaces Format: it turns a token into the file's
	// bytes (the template sink renders its template). Its error must not
	// hold the token.
	Encode func(sinks.Token) ([]byte, error)
	// Kind, if set, replaces "file" in the sink's name ("template:/path").
	Kind string
}

// Sink writes access tokens to one file. It is safe for concurrent use;
// concurrent writes leave one complete token in the file.
type Sink struct {
	name   string // "file:" + path; String is called for every write (metrics), so it is built once
	path   string // name without its prefix (same memory)
	format string
	mode   fs.FileMode
	write  func(path string, data []byte, perm fs.FileMode) error
	slots  chan struct{}                     // nil: unbounded
	enc    func(sinks.Token) ([]byte, error) // nil: format

	// wrote is set once this Sink has written (or found) its current
	// content; until then Write first compares with the file on disk.
	wrote atomic.Bool
}

// New validates opts and checks, at start-up, that the file's directory
// exists and is writable and that the path is not a directory, so a bad path
// fails now with a clear message rather than at the first refresh.
func New(opts Options) (*Sink, error) {
	if opts.Path == "" {
		return nil, errors.New("file sink: path is required")
	}
	path := filepath.Clean(opts.Path)
	format := opts.Format
	if format == "" {
		format = FormatRaw
	}
	if format != FormatRaw && format != FormatJSON && opts.Encode == nil {
		return nil, fmt.Errorf("file sink %s: unknown format %q (want %q or %q)", path, opts.Format, FormatRaw, FormatJSON)
	}
	mode := opts.Mode
	if mode == 0 {
		mode = DefaultMode
	}
	if mode&^fs.ModePerm != 0 {
		return nil, fmt.Errorf("file sink %s: mode %v has bits other than permissions", path, opts.Mode)
	}
	check := opts.CheckDir
	if check == nil {
		check = atomicfile.CheckDirWritable
	}
	if err := check(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("file sink %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("file sink %s: path is a directory", path)
	}
	write := atomicfile.WriteFile
	if opts.DirSync != nil {
		write = opts.DirSync.WriteFile
	}
	prefix := namePrefix
	if opts.Kind != "" {
		prefix = opts.Kind + ":"
	}
	name := prefix + path
	return &Sink{name: name, path: name[len(prefix):], format: format, mode: mode, write: write, slots: opts.Slots, enc: opts.Encode}, nil
}

// Write atomically replaces the file with tok. It returns ctx.Err() without
// writing when ctx is already done; once started, the write is not
// interrupted (it is short and a half-done write is never visible anyway).
// An empty access token is refused so consumers are never handed an empty
// file. Errors name the file and credential, never the token.
func (s *Sink) Write(ctx context.Context, tok sinks.Token) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("writing %s for %q: %w", s, tok.Credential, err)
	}
	if tok.AccessToken.IsZero() {
		return fmt.Errorf("writing %s for %q: empty access token", s, tok.Credential)
	}
	data, err := s.encode(tok)
	if err != nil {
		return fmt.Errorf("writing %s for %q: %w", s, tok.Credential, err)
	}
	if s.slots != nil {
		select {
		case s.slots <- struct{}{}:
			defer func() { <-s.slots }()
		case <-ctx.Done():
			return fmt.Errorf("writing %s for %q: waiting for a write slot: %w", s, tok.Credential, ctx.Err())
		}
	}
	if !s.wrote.Load() && s.holds(data) {
		s.wrote.Store(true)
		return nil
	}
	if err := s.write(s.path, data, s.mode); err != nil {
		return fmt.Errorf("writing %s for %q: %w", s, tok.Credential, err)
	}
	s.wrote.Store(true)
	return nil
}

// jsonToken is the FormatJSON document.
type jsonToken struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresAt   string `json:"expires_at,omitempty"`
	Scope       string `json:"scope,omitempty"`
	// ExtraFields are the kept response fields (sinks.Token.Extra: the
	// credential's extra_fields), omitted when there are none.
	ExtraFields map[string]string `json:"extra_fields,omitempty"`
}

func (s *Sink) encode(tok sinks.Token) ([]byte, error) {
	if s.enc != nil {
		return s.enc(tok)
	}
	if s.format == FormatRaw {
		return []byte(tok.AccessToken.Reveal()), nil
	}
	doc := jsonToken{
		AccessToken: tok.AccessToken.Reveal(),
		TokenType:   tok.TokenType,
		Scope:       tok.Scope,
		ExtraFields: tok.Extra,
	}
	if !tok.ExpiresAt.IsZero() {
		doc.ExpiresAt = tok.ExpiresAt.UTC().Format(time.RFC3339)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf) // Encode appends the trailing newline
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		// Cannot happen for a struct of strings and a map of them; json's errors would not
		// quote the value anyway.
		return nil, fmt.Errorf("encoding json: %w", err)
	}
	return buf.Bytes(), nil
}

// String identifies the sink in logs: "file:/path" (Options.Kind in place
// of "file" when set).
func (s *Sink) String() string { return s.name }

const namePrefix = "file:"
