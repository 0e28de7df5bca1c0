package daemon

import (
	"io/fs"

	"github.com/tokend/tokend/internal/atomicfile"
	"github.com/tokend/tokend/internal/sinks/envfile"
)

// envFiles keeps one *envfile.File per env-file path for the daemon's whole
// life, across reloads. A reload registers the new config's variables on the
// File the running sinks already use, so a write still in flight from the
// old config and the new config's writes go through one File: its group
// commit orders them and its generations keep a newer token from being
// replaced by an older one. (A File per build would read the file at reload
// and could write that older content over a token the old File wrote since.)
//
// Builds are serialised (start-up, then reloads under the reload lock), so
// no lock is needed.
type envFiles struct {
	dirSync *atomicfile.DirSyncer // shared by every File's writes
	files   map[string]*envfile.File
	running map[string][]string // path -> variables the running config writes there
	built   map[string][]string // the same for the last build, applied or not
}

func newEnvFiles() *envFiles {
	return &envFiles{dirSync: atomicfile.NewDirSyncer(), files: map[string]*envfile.File{}}
}

// get returns the File for path, opening it on first use. A mode changed by
// the config gets a new File (writes of the old one may then still land
// once, in the old mode).
func (e *envFiles) get(path string, mode fs.FileMode) (*envfile.File, error) {
	if mode == 0 {
		mode = envfile.DefaultMode
	}
	if f := e.files[path]; f != nil && f.Mode() == mode {
		return f, nil
	}
	f, err := envfile.Open(path, mode)
	if err != nil {
		return nil, err
	}
	f.UseDirSyncer(e.dirSync)
	e.files[path] = f
	return f, nil
}

// built records what the last build registered (path -> variables).
func (e *envFiles) record(vars map[string][]string) { e.built = vars }

// apply makes the last build the running one: each File keeps only the
// variables it now writes, and Files no longer used are forgotten.
func (e *envFiles) apply() { e.settle(e.built) }

// abandon undoes a rejected build's registrations: each File keeps the
// running config's variables, and Files only the rejected build used are
// forgotten.
func (e *envFiles) abandon() { e.settle(e.running) }

func (e *envFiles) settle(vars map[string][]string) {
	for path, f := range e.files {
		names, ok := vars[path]
		if !ok {
			delete(e.files, path)
			continue
		}
		f.Retain(names)
	}
	e.running, e.built = vars, nil
}
