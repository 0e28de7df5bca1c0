package state

import (
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
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
// wait in line for the write lock, each paying its own fsyncs (measured with
// 256 concurrent rotations: ~40 ms per Save). Here the batch is open for
// exactly as long as the previous commit takes: whoever arrives while a
// commit runs joins the next one, which the first of them (the leader)
// commits as soon as the write lock is free. A lone write is committed at
// once, without a batch window.
//
// No goroutine is started: the leader is a caller. After its own write is
// committed it hands leadership to the oldest waiting caller, so no caller
// commits other callers' writes for longer than one extra transaction.
type committer struct {
	db      *bolt.DB
	commits atomic.Uint64 // transactions committed (tests, diagnostics)

	mu      sync.Mutex
	leading bool  // a caller is committing or about to
	queue   []*op // writes not yet in a transaction, oldest first

	// beforeCommit, if set (tests only), runs in the leader before each
	// transaction, with the batch size.
	beforeCommit func(n int)
}

// op is one queued write. fn must be a pure function of its bucket (a Put or
// a Delete) that leaves the bucket unchanged when it fails.
type op struct {
	fn   func(*bolt.Bucket) error
	done chan opResult // buffered; receives exactly one result
}

type opResult struct {
	err  error
	lead bool // not a result: the receiver is now the leader
}

// do queues fn and returns when the transaction holding it has been
// committed (fsync'd), with fn's error or the commit's.
func (c *committer) do(fn func(*bolt.Bucket) error) error {
	o := &op{fn: fn, done: make(chan opResult, 1)}
	c.mu.Lock()
	c.queue = append(c.queue, o)
	if c.leading {
		c.mu.Unlock()
		r := <-o.done
		if !r.lead {
			return r.err
		}
	} else {
		c.leading = true
		c.mu.Unlock()
	}
	return c.lead(o)
}

// lead commits queued writes, oldest first, until own is committed, then
// passes leadership to the oldest waiter (or gives it up when none waits).
func (c *committer) lead(own *op) error {
	for {
		c.mu.Lock()
		n := min(len(c.queue), maxGroup)
		batch := c.queue[:n:n]
		c.queue = c.queue[n:]
		c.mu.Unlock()

		errs, commitErr := c.commit(batch)
		var ownErr error
		mine := false
		for i, o := range batch {
			err := commitErr
			if err == nil {
				err = errs[i]
			}
			if o == own {
				ownErr, mine = err, true
				continue
			}
			o.done <- opResult{err: err}
		}
		if !mine {
			continue // own was beyond maxGroup: commit the next group too
		}
		c.mu.Lock()
		if len(c.queue) == 0 {
			c.leading = false
			c.mu.Unlock()
			return ownErr
		}
		next := c.queue[0]
		c.mu.Unlock()
		next.done <- opResult{lead: true}
		return ownErr
	}
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
