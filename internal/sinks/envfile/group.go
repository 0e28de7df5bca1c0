package envfile

import (
	"context"
	"crypto/sha256"

	"github.com/tokend/tokend/internal/atomicfile"
)

// Group commit. When the credentials sharing one env-file rotate in a burst,
// each caller's value goes into the in-memory map at once, but the file is
// rewritten once per batch rather than once per caller: while one write is in
// progress, later callers gather behind it and share the next write, which
// one of them leads (takes a snapshot holding every value set so far and
// writes it) while the others wait for its result. The coordination is a
// coalesce.Group: no goroutine, no timer, followers may give up on ctx.
//
// Ordering: a snapshot is taken under f.mu when a write starts, every change
// is made under f.mu before its caller asks for a write, and only one write
// runs at a time, so the file's versions follow the map's; a later write never
// carries an older value than an earlier one.

// commit runs apply under f.mu (it changes f.values or returns an error, in
// which case nothing is written) and returns once a file write that started
// after the change has ended, with that write's error: the caller's own write
// if it leads its batch, or another caller's. A caller that leads finishes the
// write even if its ctx ends, since others are waiting on it. A caller still
// waiting when its ctx ends returns ctx.Err(); its change stays in f.values
// and goes out with the next write.
func (f *File) commit(ctx context.Context, apply func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	err := apply()
	if err == nil {
		f.changes++
	}
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.group.Do(ctx, f.write)
}

// write is one run of the group: it renders the file from the values set so
// far and writes it. If no value has been set since the last successful
// write's snapshot (the caller's change was already in it), nothing is
// written.
func (f *File) write() error {
	f.mu.Lock()
	if f.changes == f.written {
		f.mu.Unlock()
		return nil
	}
	changes := f.changes
	data := f.render()
	hook, onDisk, dirSync := f.beforeWrite, f.onDisk, f.dirSync
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	// At start-up every variable is set again to the value the file already
	// holds: a render identical to the file found at Open needs no rewrite.
	same := onDisk != nil && sha256.Sum256(data) == *onDisk
	var err error
	if !same {
		write := atomicfile.WriteFile
		if dirSync != nil {
			write = dirSync.WriteFile
		}
		err = write(f.path, data, f.mode)
	}
	f.mu.Lock()
	if err == nil {
		f.written = changes
		if !same {
			f.writes++
			f.onDisk = nil // the file is ours now; Open's copy says nothing
		}
	}
	f.mu.Unlock()
	return err
}

// Writes returns how many times the file has been written successfully since
// Open: with group commit, fewer than the number of Set and Write calls when
// they overlap.
func (f *File) Writes() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes
}
