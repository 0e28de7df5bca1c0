// Package coalesce shares one run of an expensive, idempotent action (a
// directory fsync, a file rewrite, a database commit) among the callers that
// need it at the same time, with the guarantee each of them needs: the run
// whose result a caller gets started after the caller asked.
//
// The pattern is group commit. A caller first makes its change visible to the
// action (renames a file into a directory, sets a value in a map, queues a
// database write), then calls Group.Do. If no run is in progress the caller
// runs the action at once; there is no batching window and no timer. If a run
// is in progress, the caller cannot use it (it may have read the state before
// the change), so it waits for the next run, which it shares with every
// caller that arrives meanwhile: under load there is at most one run in
// progress and one batch gathering behind it, and a batch is exactly as long
// as the run before it.
//
// Compare golang.org/x/sync/singleflight, which hands a caller the result of
// the call in progress: right for reads that may be slightly stale, wrong for
// "is my change durable yet".
package coalesce

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// ErrRunPanicked is returned to the callers that waited for a run which
// panicked. The leader's own call panics with the original value.
var ErrRunPanicked = errors.New("coalesce: the shared run panicked")

// Group coalesces the runs of one action. The zero value is ready to use; a
// Group must not be copied after first use.
//
// Contract:
//   - Runs never overlap: at most one run of a Group is in progress.
//   - No goroutine is started: every run is executed by one of the callers
//     (the leader of its batch); the others wait for it.
//   - A caller that finds no run in progress leads at once (with the batch
//     waiting for the next run, if any, whose members are being woken).
//   - Every run a Group executes starts after all the calls it serves began,
//     so whatever a caller did before calling Do is seen by the run whose
//     result it returns.
type Group struct {
	mu      sync.Mutex
	busy    bool   // a run is in progress
	pending *batch // callers waiting for the next run, or nil

	waiting atomic.Int64 // callers in Do that do not lead (tests, diagnostics)
}

// batch is the callers that share one run: those that called Do while the run
// before it was in progress.
type batch struct {
	start chan struct{} // buffered (1): a wake-up once the run before it has ended
	done  chan struct{} // closed when the batch's run has returned
	err   error         // the run's result; written before done is closed
}

// Do returns the result of a call of run that began after Do was called:
// either the caller's own call (it leads) or another caller's (it follows),
// shared with every caller of that batch. Callers of one Group should pass
// the same action; which caller's run is called is not specified.
//
// If ctx is done before Do is called, Do returns ctx.Err() and does not run.
// A follower whose ctx ends while it waits returns ctx.Err() at once (unless
// its run has ended at the same moment, in which case it returns the run's
// result); the batch it joined still runs, led by another member or, if none
// is left, by the next caller. A leader always completes its run and returns
// its result, whatever happens to its ctx, because its batch is waiting for
// it. So a nil error always means "a run that started after my call
// succeeded", and ctx.Err() means "no run has been seen for this call yet":
// what the caller changed before calling is picked up by a later run.
//
// If run panics, the panic propagates to the leader's caller, the other
// members of its batch get ErrRunPanicked, and the Group stays usable.
func (g *Group) Do(ctx context.Context, run func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	g.mu.Lock()
	if !g.busy {
		// Lead at once: alone, or at the head of a batch whose members
		// have not woken up yet (a caller already running starts the run
		// sooner than a woken one would).
		b := g.pending
		g.busy, g.pending = true, nil
		g.mu.Unlock()
		return g.lead(b, run)
	}
	b := g.pending
	if b == nil {
		b = &batch{start: make(chan struct{}, 1), done: make(chan struct{})}
		g.pending = b
	}
	g.mu.Unlock()

	g.waiting.Add(1)
	defer g.waiting.Add(-1)
	select {
	case <-b.start:
		g.mu.Lock()
		if g.pending == b { // nobody has started b yet (and no run is in progress)
			g.busy, g.pending = true, nil
			g.mu.Unlock()
			return g.lead(b, run)
		}
		g.mu.Unlock()
		// A caller that arrived meanwhile leads b: wait for its result.
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return cancelled(ctx, b)
	}
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return cancelled(ctx, b)
	}
}

// cancelled is Do's result for a follower whose ctx has ended: b's result if
// b's run has ended at the same moment, otherwise ctx.Err().
func cancelled(ctx context.Context, b *batch) error {
	select {
	case <-b.done:
		return b.err
	default:
		return ctx.Err()
	}
}

// lead calls run for batch b (nil for a caller that led alone), publishes the
// result to b's members, marks the Group idle and wakes one member of the
// pending batch, if any, to lead it (unless a new caller gets there first).
func (g *Group) lead(b *batch, run func() error) (err error) {
	returned := false
	defer func() {
		if !returned {
			err = ErrRunPanicked // for the members; the leader's panic goes on
		}
		g.mu.Lock()
		g.busy = false
		if g.pending != nil {
			g.pending.start <- struct{}{} // never blocks: one wake-up per batch
		}
		g.mu.Unlock()
		if b != nil {
			b.err = err
			close(b.done)
		}
	}()
	err = run()
	returned = true
	return err
}

// Waiting returns how many callers are in Do waiting for another caller's run
// (or for the grant to lead theirs). Tests use it to know when a batch has
// gathered.
func (g *Group) Waiting() int { return int(g.waiting.Load()) }

// Busy reports whether a run is in progress.
func (g *Group) Busy() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.busy
}
