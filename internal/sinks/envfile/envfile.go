// Package envfile is the sink that writes access tokens as `NAME=value` lines
// of an environment file, for systemd's EnvironmentFile= and
// `docker run --env-file`. Several credentials may share one file, each owning
// one variable; every write rewrites the whole file atomically, so a consumer
// reading at any moment sees one complete, consistent file. Concurrent writes
// to one file are coalesced (see group.go): when many credentials sharing a
// file rotate at once, it is rewritten once per batch, not once per variable.
//
// The file is tokend's: only managed (registered) variables are written, in
// sorted order, below a "# written by tokend; do not edit" header. See Encode
// for the quoting rules and Parse for how a file is read back.
package envfile

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/tokend/tokend/internal/atomicfile"
	"github.com/tokend/tokend/internal/coalesce"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/sinks"
)

// Header is the first line of every env-file tokend writes.
const Header = "# written by tokend; do not edit"

// DefaultMode is the file mode used when Open is given mode 0.
const DefaultMode fs.FileMode = 0o600

// File is one env-file path shared by the credentials whose sinks name it.
// It is safe for concurrent use: writes are serialised, each one writes the
// latest value of every managed variable, and callers that arrive while a
// write is in progress share the next one (group commit, see commit).
type File struct {
	path string
	mode fs.FileMode

	mu sync.Mutex
	// The fields below are guarded by mu.
	existing map[string]string        // values parsed from the file at Open
	managed  map[string]bool          // registered variable names
	values   map[string]secret.Secret // current values; managed names only
	gens     map[string]uint64        // generation of each value set by a Sink
	changes  uint64                   // values set since Open (commit counts them)
	written  uint64                   // changes the last successful write's snapshot held
	writes   uint64                   // successful file writes since Open

	group coalesce.Group // the file's writes: one at a time, shared by the callers waiting (group.go)

	dirSync *atomicfile.DirSyncer // set by UseDirSyncer before the first write; nil: fsync the directory alone
	buf     []byte                // the last render, reused by the next (see render)
	// onDisk is the hash of the file as found at Open, while nothing else
	// has been written: a render identical to it is not written (guarded by
	// the one-write-at-a-time rule, see write).
	onDisk *[sha256.Size]byte

	// beforeWrite, if set (by tests only), runs in the leader after it has
	// taken its snapshot and released mu, just before the file is written.
	beforeWrite func()
}

// Open prepares the env-file at path, written with mode (0 means
// DefaultMode). It checks that the directory is writable and that path is not
// a directory, so a bad path fails at start-up. If the file exists it is
// parsed (an unreadable or unparsable file is an error) and the values of
// variables registered later with Sink are kept, so a restart does not blank
// a variable before its credential writes again. Open itself writes nothing
// (its directory check creates and removes a probe file).
func Open(path string, mode fs.FileMode) (*File, error) {
	return OpenChecked(path, mode, atomicfile.CheckDirWritable)
}

// OpenChecked is Open with checkDir as its check of the file's directory:
// `tokend validate` passes atomicfile.CheckDirAccess, which creates nothing.
func OpenChecked(path string, mode fs.FileMode, checkDir func(dir string) error) (*File, error) {
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
	if err := checkDir(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("env-file %s: %w", path, err)
	}
	existing := map[string]string{}
	var onDisk *[sha256.Size]byte
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
		if fi.Mode().IsRegular() && fi.Mode().Perm() == mode {
			sum := sha256.Sum256(data)
			onDisk = &sum
		}
	}
	return &File{
		path:     path,
		mode:     mode,
		onDisk:   onDisk,
		existing: existing,
		managed:  map[string]bool{},
		values:   map[string]secret.Secret{},
		gens:     map[string]uint64{},
	}, nil
}

// UseDirSyncer makes the File's writes share their directory fsync with the
// other writers d serves (several env-files and file sinks in one directory
// rewritten at the same time). Call it before the first write.
func (f *File) UseDirSyncer(d *atomicfile.DirSyncer) {
	f.mu.Lock()
	f.dirSync = d
	f.mu.Unlock()
}

// Path returns the env-file's path.
func (f *File) Path() string { return f.path }

// Sink registers varName as a managed variable of the file and returns the
// sink that writes it. The name must match [A-Za-z_][A-Za-z0-9_]*. If the
// file held a value for varName at Open (and that value can be written back),
// it is kept until the sink writes.
//
// Registering a name that is already managed returns another sink for the
// same variable, keeping its value and generation: a config reload registers
// the variables of the new config on the File the running sinks use, so
// writes in flight and new ones go through one File and a newer token is
// never overwritten by an older one. Two credentials writing one variable of
// one config is the caller's to reject (the daemon does, naming both).
func (f *File) Sink(varName string) (*Sink, error) {
	if !nameRE.MatchString(varName) {
		return nil, fmt.Errorf("env-file %s: invalid variable name %q (want [A-Za-z_][A-Za-z0-9_]*)", f.path, varName)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.managed[varName] {
		return &Sink{file: f, name: varName}, nil
	}
	f.managed[varName] = true
	if v, ok := f.existing[varName]; ok {
		if _, err := Encode(varName, v); err == nil {
			// A copy: v points into the whole file as read at Open.
			f.values[varName] = secret.New(strings.Clone(v))
		}
		delete(f.existing, varName) // kept once, in values
	}
	return &Sink{file: f, name: varName}, nil
}

// Retain makes names the file's managed variables: any other variable is no
// longer managed, its value is dropped and its line goes with the next write
// (Retain itself writes nothing). Names not yet registered are ignored. A
// sink of a dropped variable fails its writes until the variable is
// registered again. The daemon calls it once a reload is applied, with the
// variables the running config writes to this file.
func (f *File) Retain(names []string) {
	keep := make(map[string]bool, len(names))
	for _, n := range names {
		keep[n] = true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for n := range f.managed {
		if !keep[n] {
			delete(f.managed, n)
			delete(f.values, n)
			delete(f.gens, n)
		}
	}
}

// Mode returns the file mode the File writes with.
func (f *File) Mode() fs.FileMode { return f.mode }

// SetMany sets several managed variables and returns once a write of the
// file that includes them has ended (see commit: it may be another caller's
// write, shared by everyone who set a value meanwhile). Every name must be
// registered and every value encodable (see Encode), otherwise nothing
// changes. If ctx has already ended nothing changes and ctx.Err() is returned;
// if it ends while waiting for a write, ctx.Err() is returned but the values
// stay set and go out with the next write. If the write fails, the values are
// likewise kept in memory for the next successful write. SetMany carries no
// generations (see Sink.Write). Errors name the file and variables, never
// values.
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
	return f.commit(ctx, func() error {
		for name := range values {
			if !f.managed[name] {
				return fmt.Errorf("env-file %s: variable %s is not registered", f.path, name)
			}
		}
		for name, v := range values {
			f.values[name] = v
		}
		return nil
	})
}

// render returns the whole file: the header, then one line per managed
// variable that has a value, sorted by name. It reuses f.buf (one write runs
// at a time, and the next render waits for it), so a burst of rewrites of a
// large file does not leave a file-sized buffer of garbage behind each one. Every name and value was checked
// by Encode before it was stored, so render only lays the lines out (a burst
// rewrites a file of thousands of variables many times: validating them all
// again on each write was a third of the daemon's CPU).
func (f *File) render() []byte {
	names := make([]string, 0, len(f.values))
	size := len(Header) + 1
	for name, v := range f.values {
		names = append(names, name)
		size += len(name) + len(v.Reveal()) + 4 // "=", "\n", quotes if any
	}
	slices.Sort(names)
	b := f.buf[:0]
	if cap(b) < size {
		b = make([]byte, 0, size+size/8)
	}
	b = append(append(b, Header...), '\n')
	for _, name := range names {
		v := f.values[name].Reveal()
		b = append(append(b, name...), '=')
		if needsQuoting(v) {
			b = append(b, quote(v)...)
		} else {
			b = append(b, v...)
		}
		b = append(b, '\n')
	}
	f.buf = b
	return b
}

// Sink writes one credential's access token to one variable of a File. It
// is safe for concurrent use.
type Sink struct {
	file *File
	name string
}

// Write sets the sink's variable to tok's access token and returns once an
// atomic rewrite of the whole file that includes it has ended; concurrent
// writes to the file share one rewrite (see File.SetMany for ctx and
// failures). A token older than the variable's current value (a lower
// tok.Generation) does not replace it; Write then waits for the newer value to
// be written. An empty access token, or one Encode refuses (newline, control
// character, ...), is refused without touching the file. Errors name the
// file, variable and credential, never the token.
func (s *Sink) Write(ctx context.Context, tok sinks.Token) error {
	if tok.AccessToken.IsZero() {
		return fmt.Errorf("writing %s for %q: empty access token", s, tok.Credential)
	}
	if err := s.set(ctx, tok); err != nil {
		return fmt.Errorf("writing %s for %q: %w", s, tok.Credential, err)
	}
	return nil
}

func (s *Sink) set(ctx context.Context, tok sinks.Token) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := Encode(s.name, tok.AccessToken.Reveal()); err != nil {
		return fmt.Errorf("env-file %s: %w", s.file.path, err)
	}
	f := s.file
	return f.commit(ctx, func() error {
		if !f.managed[s.name] {
			return fmt.Errorf("env-file %s: variable %s is not registered (a reload removed it)", f.path, s.name)
		}
		if tok.Generation < f.gens[s.name] {
			return nil // never replace a newer token with an older one
		}
		f.values[s.name], f.gens[s.name] = tok.AccessToken, tok.Generation
		return nil
	})
}

// String identifies the sink in logs: "envfile:/path:VAR".
func (s *Sink) String() string { return "envfile:" + s.file.path + ":" + s.name }
