package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tokend/tokend/internal/atomicfile"
	"github.com/tokend/tokend/internal/coalesce"
)

// groupFloor is the durable baseline plus what a durable state store costs
// at the least: before each token file is written, the rotation's new
// refresh token is put into a bbolt database, and concurrent puts share one
// read-write transaction (one set of fsyncs). The grouping is internal/state's
// committer pattern (a coalesce.Group whose leader commits the queue as soon
// as the previous commit ends; at most maxGroup writes a transaction), not
// bbolt's DB.Batch, whose fixed batch delay would make the floor slower than
// tokend. One put per rotation: tokend makes two (the intent before the
// token endpoint, the result after), so tokend/floor below 1 is expected.
func groupFloor(dir string, n, workers int) (float64, error) {
	db, err := bolt.Open(filepath.Join(dir+"-state.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return 0, fmt.Errorf("group-commit floor: %w", err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte("c"))
		return err
	}); err != nil {
		return 0, err
	}
	gc := &groupCommit{db: db}
	put := func(i int, refresh string) error {
		key, val := fmt.Appendf(nil, "c%06d", i), []byte(refresh)
		return gc.do(func(b *bolt.Bucket) error { return b.Put(key, val) })
	}
	rps, err := runBaseline(dir, n, workers, atomicfile.NewDirSyncer().WriteFile, put)
	if err != nil {
		return 0, fmt.Errorf("group-commit floor: %w", err)
	}
	return rps, nil
}

// groupCommit is internal/state's committer, reduced to what the floor
// needs: queue the write, then ask the group for a commit that started
// after it was queued.
type groupCommit struct {
	db    *bolt.DB
	group coalesce.Group
	mu    sync.Mutex
	queue []*groupOp
}

type groupOp struct {
	fn   func(*bolt.Bucket) error
	err  error
	done atomic.Bool
}

func (g *groupCommit) do(fn func(*bolt.Bucket) error) error {
	o := &groupOp{fn: fn}
	g.mu.Lock()
	g.queue = append(g.queue, o)
	g.mu.Unlock()
	for !o.done.Load() {
		if err := g.group.Do(context.Background(), g.commitNext); err != nil {
			return err
		}
	}
	return o.err
}

func (g *groupCommit) commitNext() error {
	g.mu.Lock()
	n := min(len(g.queue), 1024)
	batch := g.queue[:n:n]
	g.queue = g.queue[n:]
	g.mu.Unlock()
	if n == 0 {
		return nil
	}
	errs := make([]error, n)
	err := g.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("c"))
		for i, o := range batch {
			errs[i] = o.fn(b)
		}
		return nil
	})
	for i, o := range batch {
		o.err = err
		if err == nil {
			o.err = errs[i]
		}
		o.done.Store(true)
	}
	return nil
}
