package daemon

import (
	"fmt"
	"io/fs"
	"net/http"
	"slices"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/sinks/envfile"
	"github.com/tokend/tokend/internal/sinks/file"
	"github.com/tokend/tokend/internal/sinks/kinds"
)

// buildCache is what credentials built from one config share: the env-file
// per path of this build (a File of the sinkShare, so the daemon's across
// reloads), one directory check per sink directory (not one probe file per
// sink, which made start-up linear in sinks per directory), and one HTTP
// client, so connections to a provider are pooled across its credentials
// instead of one transport and idle connection per credential. What lives
// longer than one build is in share. env is what the sink kinds are lent
// (its EnvFiles is the buildCache itself).
type buildCache struct {
	files map[string]*envfile.File
	vars  map[string][]string // env-file path -> variables registered by this build
	dirs  map[string]error
	http  *http.Client
	share *sinkShare
	env   kinds.Env
	// strs holds one copy of the strings many credentials repeat (token
	// URLs, client ids, provider keys): config decoding gives every value
	// storage of its own (config/detach.go), and the built credentials keep
	// them for the daemon's life.
	strs map[string]string
}

// intern returns the build's one copy of v.
func (b *buildCache) intern(v string) string {
	if c, ok := b.strs[v]; ok {
		return c
	}
	if b.strs == nil {
		b.strs = map[string]string{}
	}
	b.strs[v] = v
	return v
}

// newBuildCache sizes the shared connection pool to the scheduler's
// concurrency: that many refreshes may talk to one provider at once. A nil
// share (a build outside a running daemon) gets one of its own.
func newBuildCache(cfg *config.Config, share *sinkShare) *buildCache {
	if share == nil {
		share = newSinkShare()
	}
	b := &buildCache{files: map[string]*envfile.File{}, vars: map[string][]string{}, dirs: map[string]error{},
		http:  grants.NewHTTPClient(max(cfg.Scheduler.MaxConcurrent, config.DefaultMaxConcurrent)),
		share: share}
	if d := cfg.Scheduler.RequestTimeout.Duration; d > 0 {
		b.http.Timeout = d // [scheduler] request_timeout: one token request, reloadable
	}
	b.env = kinds.Env{File: file.Options{CheckDir: b.checkDir, DirSync: share.dirSync, Slots: share.fileSlots}, EnvFiles: b}
	return b
}

// Variable registers variable name of the env-file at path (absolute) for
// this build, on the File the daemon keeps for that path (envfile.Files). A
// variable written by two sinks of the build is an error.
func (b *buildCache) Variable(path string, mode fs.FileMode, name string) (*envfile.Sink, error) {
	if slices.Contains(b.vars[path], name) {
		return nil, fmt.Errorf("env-file %s: variable %s is written by two sinks", path, name)
	}
	f, ok := b.files[path]
	if !ok {
		var err error
		if f, err = b.share.get(path, mode); err != nil {
			return nil, err
		}
		b.files[path] = f
	}
	sk, err := f.Sink(name)
	if err == nil {
		b.vars[path] = append(b.vars[path], name)
	}
	return sk, err
}

// checkDir runs the share's directory check (atomicfile.CheckDirWritable
// unless Preflight) once per directory. Credentials
// are built sequentially, so no lock is needed.
func (b *buildCache) checkDir(dir string) error {
	if err, ok := b.dirs[dir]; ok {
		return err
	}
	err := b.share.checkDir(dir)
	b.dirs[dir] = err
	return err
}
