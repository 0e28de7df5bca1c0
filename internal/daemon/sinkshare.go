package daemon

import (
	"io/fs"

	"github.com/tokend/tokend/internal/atomicfile"
	"github.com/tokend/tokend/internal/sinks/envfile"
)

// sinkShare is what the daemon's sinks share for its whole life, across
// reloads: one directory-fsync group (file sinks and env-files rewritten at
// the same time into one directory share its fsync), one bound on file-sink
// writes in flight (fileWriteSlots), and one *envfile.File per env-file path.
//
// A reload registers the new config's variables on the
// File the running sinks already use, so a write still in flight from the
// old config and the new config's writes go through one File: its group
// commit orders them and its generations keep a newer token from being
// replaced by an older one. (A File per build would read the file at reload
// and could write that older content over a token the old File wrote since.)
//
// Builds are serialised (start-up, then reloads under the reload lock), so
// no lock is needed.
type sinkShare struct {
	dirSync   *atomicfile.DirSyncer
	fileSlots chan struct{} // bounds file-sink writes in flight (fileWriteSlots)
	files     map[string]*envfile.File
	running   map[string][]string // path -> variables the running config writes there
	built     map[string][]string // the same for the last build, applied or not
	// checkDir is the start-up check of a sink's directory:
	// atomicfile.CheckDirWritable (a probe file), or CheckDirAccess for
	// Preflight, which must create nothing.
	checkDir func(dir string) error
}

// fileWriteSlots bounds the file-sink writes in flight across the daemon
// (file.Options.Slots). A write blocked in fsync holds an OS thread, and Go
// never lets a thread go, so an unbounded burst leaves one resident thread
// stack per concurrent writer; and more writers did not write faster on
// ext4 (docs/performance.md, "Figures behind the code").
const fileWriteSlots = 16

func newSinkShare() *sinkShare {
	return &sinkShare{dirSync: atomicfile.NewDirSyncer(), fileSlots: make(chan struct{}, fileWriteSlots),
		files: map[string]*envfile.File{}, checkDir: atomicfile.CheckDirWritable}
}

// get returns the File for path, opening it on first use. A mode changed by
// the config gets a new File (writes of the old one may then still land
// once, in the old mode).
func (e *sinkShare) get(path string, mode fs.FileMode) (*envfile.File, error) {
	if mode == 0 {
		mode = envfile.DefaultMode
	}
	if f := e.files[path]; f != nil && f.Mode() == mode {
		return f, nil
	}
	f, err := envfile.OpenChecked(path, mode, e.checkDir)
	if err != nil {
		return nil, err
	}
	f.UseDirSyncer(e.dirSync)
	e.files[path] = f
	return f, nil
}

// built records what the last build registered (path -> variables).
func (e *sinkShare) record(vars map[string][]string) { e.built = vars }

// apply makes the last build the running one: each File keeps only the
// variables it now writes, and Files no longer used are forgotten.
func (e *sinkShare) apply() { e.settle(e.built) }

// abandon undoes a rejected build's registrations: each File keeps the
// running config's variables, and Files only the rejected build used are
// forgotten.
func (e *sinkShare) abandon() { e.settle(e.running) }

func (e *sinkShare) settle(vars map[string][]string) {
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
