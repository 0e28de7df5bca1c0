package state

import (
	"context"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"

	"github.com/tokend/tokend/internal/coalesce"
)

// maxGroup bounds how many writes share one transaction, so one commit's
// latency stays bounded however many callers are waiting.
const maxGroup = 1024

// committer is the store's group commit: concurrent writes share one bbolt
// read-write transaction and therefore one set of fsyncs, and no write waits
// for a timer.
//
// Why not bbolt's DB.Batch: Batch closes a batch after a fixed delay and then
// queues it behind the commit in progress, so under load many small batches
// wait in line for the write lock, each paying its own fsyncs (see
// docs/performance.md). Here the batch is open for exactly as long as the
// previous commit takes: whoever arrives while a commit runs joins the next
// one, which one of them (the leader) commits as soon as the previous one has
// ended. A lone write is committed at once, without a batch window.
//
// The coordination is a coalesce.Group (no goroutine is started: the leader
// is a caller); what the committer adds is the data: the queue of writes, and
// each write's own outcome, since one write failing inside a shared
// transaction must fail alone. A caller queues its write, then asks the group
// for a commit that started after that; the commit takes the oldest maxGroup
// writes of the queue, so a caller whose write was beyond them asks again.
type committer struct {
	db      *bolt.DB
	commits atomic.Uint64 // transactions committed (tests, diagnostics)
	group   coalesce.Group

	mu    sync.Mutex
	queue []*op // writes not yet in a transaction, oldest first

	// check, if set, runs in the leader before each transaction; its error
	// fails the whole batch, nothing of it committed. The store's is
	// FileStore.checkFile: one stat per transaction, not one per write.
	check func() error

	// beforeCommit, if set (tests only), runs in the leader before each
	// transaction, with the batch size.
	beforeCommit func(n int)
}

// op is one queued write. fn must be a pure function of its bucket (a Put or
// a Delete) that leaves the bucket unchanged when it fails.
type op struct {
	fn   func(*bolt.Bucket) error
	then func()      // if set, runs once fn's change is committed (see doThen)
	err  error       // fn's error or the commit's; written before done is set
	done atomic.Bool // the transaction holding the write has ended
}

// do queues fn and returns when the transaction holding it has been
// committed (fsync'd), with fn's error or the commit's. It is not
// cancellable: once queued, a write is committed, so the caller waits for
// its outcome.
func (c *committer) do(fn func(*bolt.Bucket) error) error {
	return c.queued(&op{fn: fn})
}

// queued is do for a prepared op.
func (c *committer) queued(o *op) error {
	c.mu.Lock()
	c.queue = append(c.queue, o)
	c.mu.Unlock()
	for !o.done.Load() {
		if err := c.group.Do(context.Background(), c.commitNext); err != nil {
			return err // only coalesce.ErrRunPanicked: a background ctx never ends
		}
	}
	return o.err
}

// doThen is do, with then run once the write has been committed (not when it
// or its transaction failed), before do returns. The writes' thens run in
// commit order, one at a time (the group runs one commit at a time), so a
// then may record what is now on disk without a later write's then being
// overtaken by an earlier one's.
func (c *committer) doThen(fn func(*bolt.Bucket) error, then func()) error {
	return c.queued(&op{fn: fn, then: then})
}

// commitNext is one run of the group: it commits the oldest maxGroup queued
// writes in one transaction and settles each of them. An empty queue (every
// write of the batch went out with the previous commit) commits nothing.
func (c *committer) commitNext() error {
	c.mu.Lock()
	n := min(len(c.queue), maxGroup)
	batch := c.queue[:n:n]
	c.queue = c.queue[n:]
	c.mu.Unlock()
	if n == 0 {
		return nil
	}
	var errs []error
	var commitErr error
	if c.check != nil {
		commitErr = c.check()
	}
	if commitErr == nil {
		errs, commitErr = c.commit(batch)
	}
	for i, o := range batch {
		o.err = commitErr
		if commitErr == nil {
			o.err = errs[i]
		}
		if o.err == nil && o.then != nil {
			o.then()
		}
		o.done.Store(true)
	}
	return nil
}

// commit runs one transaction applying batch in order. It returns each op's
// own error, and the transaction's error (which then applies to all: nothing
// of the batch was committed).
func (c *committer) commit(batch []*op) ([]error, error) {
	if c.beforeCommit != nil {
		c.beforeCommit(len(batch))
	}
	errs := make([]error, len(batch))
	err := c.db.Update(func(tx *bolt.Tx) error {
		b, err := bucket(tx)
		if err != nil {
			return err
		}
		for i, o := range batch {
			errs[i] = o.fn(b)
		}
		return nil
	})
	if err == nil {
		c.commits.Add(1)
	}
	return errs, err
}
