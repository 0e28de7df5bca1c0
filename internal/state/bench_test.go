package state

import (
	"fmt"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkSaveSerial measures one Save at a time: every Save pays a full
// commit and its fsyncs.
func BenchmarkSaveSerial(b *testing.B) {
	s := openTemp(b, Options{})
	rec := fullRecord("serial")
	for b.Loop() {
		rec.Generation++
		if err := s.Save(b.Context(), rec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGroupCommit saves 256 distinct records from 256 goroutines at
// once (a burst of rotations) and, in the same iteration, the same 256 saves
// one after another (one commit each), and the same burst through bbolt's
// own DB.Batch (2 ms window, what the store used before). It reports the
// burst's speed-up over the serial saves and over DB.Batch, and the writes
// per commit: ratios measured side by side, not absolute times.
//
//	go test -run '^$' -bench BenchmarkGroupCommit -benchtime 10x ./internal/state/
func BenchmarkGroupCommit(b *testing.B) {
	const n = 256
	s := openTemp(b, Options{})
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = fullRecord(fmt.Sprintf("cred-%04d", i))
	}
	var serial, burst, batch time.Duration
	var commits, writes uint64
	for b.Loop() {
		t0 := time.Now()
		for i := range recs {
			recs[i].Generation++
			if err := s.Save(b.Context(), recs[i]); err != nil {
				b.Fatal(err)
			}
		}
		serial += time.Since(t0)

		c0 := s.group.commits.Load()
		t0 = time.Now()
		var wg sync.WaitGroup
		for i := range recs {
			recs[i].Generation++
			wg.Go(func() {
				if err := s.Save(b.Context(), recs[i]); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		burst += time.Since(t0)
		commits += s.group.commits.Load() - c0
		writes += n

		s.db.MaxBatchDelay = 2 * time.Millisecond
		t0 = time.Now()
		for i := range recs {
			recs[i].Generation++
			data, err := s.codec.encode(recs[i])
			if err != nil {
				b.Fatal(err)
			}
			wg.Go(func() {
				err := s.db.Batch(func(tx *bolt.Tx) error {
					bk, err := bucket(tx)
					if err != nil {
						return err
					}
					return bk.Put([]byte(recs[i].Credential), data)
				})
				if err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		batch += time.Since(t0)
	}
	b.ReportMetric(float64(serial)/float64(burst), "speedup")
	b.ReportMetric(float64(batch)/float64(burst), "vs-bbolt-batch")
	b.ReportMetric(float64(writes)/float64(commits), "writes/commit")
}
