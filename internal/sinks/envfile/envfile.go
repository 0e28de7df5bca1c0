// Package envfile is the sink that writes access tokens as `NAME=value` lines
// of an environment file, for systemd's EnvironmentFile= and
// `docker run --env-file`. Several credentials may share one file, each owning
// one variable; every write rewrites the whole file atomically, so a consumer
// reading at any moment sees one complete, consistent file.
//
// The file is tokend's: only managed (registered) variables are written, in
// sorted order, below a "# written by tokend; do not edit" header. See Encode
// for the quoting rules and Parse for how a file is read back.
package envfile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tokend/tokend/internal/atomicfile"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/sinks"
)

// Header is the first line of every env-file tokend writes.
const Header = "# written by tokend; do not edit"

// DefaultMode is the file mode used when Open is given mode 0.
const DefaultMode fs.FileMode = 0o600

// File is one env-file path shared by the credentials whose sinks name it.
// It is safe for concurrent use: writes are serialised, and each one writes
// the latest value of every managed variable.
type File struct {
	path string
	mode fs.FileMode
	// lock is a one-slot semaphore rather than a mutex so that a writer
	// waiting for another one's fsync can give up when its ctx ends.
	lock chan struct{}
	// The fields below are guarded by lock.
	existing map[string]string        // values parsed from the file at Open
	managed  map[string]bool          // registered variable names
	values   map[string]secret.Secret // current values; managed names only
}

// Open prepares the env-file at path, written with mode (0 means
// DefaultMode). It checks that the directory is writable and that path is not
// a directory, so a bad path fails at start-up. If the file exists it is
// parsed (an unreadable or unparsable file is an error) and the values of
// variables registered later with Sink are kept, so a restart does not blank
// a variable before its credential writes again. Open itself writes nothing.
func Open(path string, mode fs.FileMode) (*File, error) {
	if path == "" {
		return nil, errors.New("env-file: path is required")
	}
	path = filepath.Clean(path)
	if mode == 0 {
		mode = DefaultMode
	}
	if mode&^fs.ModePerm != 0 {
		return nil, fmt.Errorf("env-file %s: mode %v has bits other than permissions", path, mode)
	}
	if err := atomicfile.CheckDirWritable(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("env-file %s: %w", path, err)
	}
	existing := map[string]string{}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("env-file %s: %w", path, err)
	case fi.IsDir():
		return nil, fmt.Errorf("env-file %s: path is a directory", path)
	default:
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("env-file %s: reading existing file: %w", path, err)
		}
		if existing, err = Parse(data); err != nil {
			return nil, fmt.Errorf("env-file %s: parsing existing file: %w", path, err)
		}
	}
	return &File{
		path:     path,
		mode:     mode,
		lock:     make(chan struct{}, 1),
		existing: existing,
		managed:  map[string]bool{},
		values:   map[string]secret.Secret{},
	}, nil
}

// Path returns the env-file's path.
func (f *File) Path() string { return f.path }

// Sink registers varName as a managed variable of the file and returns the
// sink that writes it. The name must match [A-Za-z_][A-Za-z0-9_]*; registering
// a name twice is an error. If the file held a value for varName at Open
// (and that value can be written back), it is kept until the sink writes.
func (f *File) Sink(varName string) (*Sink, error) {
	if !nameRE.MatchString(varName) {
		return nil, fmt.Errorf("env-file %s: invalid variable name %q (want [A-Za-z_][A-Za-z0-9_]*)", f.path, varName)
	}
	f.lock <- struct{}{}
	defer func() { <-f.lock }()
	if f.managed[varName] {
		return nil, fmt.Errorf("env-file %s: variable %s is registered twice", f.path, varName)
	}
	f.managed[varName] = true
	if v, ok := f.existing[varName]; ok {
		if _, err := Encode(varName, v); err == nil {
			f.values[varName] = secret.New(v)
		}
	}
	return &Sink{file: f, name: varName}, nil
}

// SetMany sets several managed variables and rewrites the file once. Every
// name must be registered and every value encodable (see Encode), otherwise
// nothing changes. It returns ctx.Err() if ctx ends before the write starts,
// including while waiting for another write to finish. If the write itself
// fails, the new values are still kept in memory and go out with the next
// successful write. Errors name the file and variables, never values.
func (f *File) SetMany(ctx context.Context, values map[string]secret.Secret) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(values) == 0 {
		return nil
	}
	for name, v := range values {
		if _, err := Encode(name, v.Reveal()); err != nil {
			return fmt.Errorf("env-file %s: %w", f.path, err)
		}
	}
	select {
	case f.lock <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-f.lock }()
	for name := range values {
		if !f.managed[name] {
			return fmt.Errorf("env-file %s: variable %s is not registered", f.path, name)
		}
	}
	for name, v := range values {
		f.values[name] = v
	}
	return f.writeLocked()
}

// render returns the whole file: the header, then one line per managed
// variable that has a value, sorted by name. Values were checked by Encode
// before they were stored, so an error here is a bug, reported not hidden.
func (f *File) render() ([]byte, error) {
	names := make([]string, 0, len(f.values))
	for name := range f.values {
		names = append(names, name)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString(Header)
	b.WriteByte('\n')
	for _, name := range names {
		line, err := Encode(name, f.values[name].Reveal())
		if err != nil {
			return nil, err
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return []byte(b.String()), nil
}

// writeLocked rewrites the file; the caller holds f.lock.
func (f *File) writeLocked() error {
	data, err := f.render()
	if err != nil {
		return fmt.Errorf("env-file %s: %w", f.path, err)
	}
	return atomicfile.WriteFile(f.path, data, f.mode)
}

// Sink writes one credential's access token to one variable of a File. It
// is safe for concurrent use.
type Sink struct {
	file *File
	name string
}

// Write sets the sink's variable to tok's access token and rewrites the whole
// file atomically. It returns ctx's error without writing if ctx ends before
// the write starts. An empty access token, or one Encode refuses (newline,
// control character, ...), is refused without touching the file. Errors name
// the file, variable and credential, never the token.
func (s *Sink) Write(ctx context.Context, tok sinks.Token) error {
	if tok.AccessToken.IsZero() {
		return fmt.Errorf("writing %s for %q: empty access token", s, tok.Credential)
	}
	if err := s.file.SetMany(ctx, map[string]secret.Secret{s.name: tok.AccessToken}); err != nil {
		return fmt.Errorf("writing %s for %q: %w", s, tok.Credential, err)
	}
	return nil
}

// String identifies the sink in logs: "envfile:/path:VAR".
func (s *Sink) String() string { return "envfile:" + s.file.path + ":" + s.name }
