package envfile

import (
	"context"
	"crypto/sha256"

	"github.com/tokend/tokend/internal/atomicfile"
)

// Group commit. When the credentials sharing one env-file rotate in a burst,
// each caller's value goes into the in-memory map at once, but the file is
// rewritten once per batch rather than once per caller: while one write is in
// progress, later callers gather in the pending batch; when that write ends,
// the first of them to notice leads the batch (takes a snapshot holding every
// value set so far and writes it) and the others wait for its result. No
// goroutine is started: the leader is always one of the callers.
//
// Ordering: a snapshot is taken, and the pending batch closed, under f.mu,
// and only one write runs at a time, so the file's versions follow the map's;
// a later write never carries an older value than an earlier one.

// batch is the callers whose values were set after the snapshot of the write
// before it and before its own.
type batch struct {
	done chan struct{} // closed when the batch's write has ended
	err  error         // the write's result; set under f.mu before done is closed
}

// commit runs apply under f.mu (it changes f.values or returns an error, in
// which case nothing is written) and returns once a file write that includes
// the change has ended, with that write's error: the caller's own write if it
// leads its batch, or another caller's. A caller that leads finishes the write
// even if its ctx ends, since others are waiting on it. A caller still waiting
// when its ctx ends returns ctx.Err(); its change stays in f.values and goes
// out with the next write.
func (f *File) commit(ctx context.Context, apply func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	if err := apply(); err != nil {
		f.mu.Unlock()
		return err
	}
	if f.pending == nil {
		f.pending = &batch{done: make(chan struct{})}
	}
	b := f.pending
	for {
		if ended(b) {
			f.mu.Unlock()
			return b.err
		}
		if f.writing == nil {
			return f.lead(b)
		}
		// Either the previous batch is being written (wait for it to end,
		// then lead b unless another member of b got there first) or
		// another member of b leads it (wait for its result).
		w := f.writing
		f.mu.Unlock()
		select {
		case <-w.done:
		case <-ctx.Done():
			if ended(b) { // b's write ended at the same moment: report it
				return b.err
			}
			return ctx.Err()
		}
		f.mu.Lock()
	}
}

// ended reports whether b's write has ended; b.err may then be read.
func ended(b *batch) bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// lead writes the file for batch b. The caller holds f.mu, b is f.pending and
// no write is in progress; lead returns with f.mu released.
func (f *File) lead(b *batch) error {
	f.pending, f.writing = nil, b
	data := f.render()
	hook, onDisk := f.beforeWrite, f.onDisk
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
		if f.dirSync != nil {
			write = f.dirSync.WriteFile
		}
		err = write(f.path, data, f.mode)
	}
	f.mu.Lock()
	if err == nil && !same {
		f.writes++
		f.onDisk = nil // the file is ours now; Open's copy says nothing
	}
	b.err, f.writing = err, nil
	close(b.done)
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
