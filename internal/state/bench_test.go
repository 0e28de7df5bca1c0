package state

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// BenchmarkSaveSerial measures one Save at a time: every Save pays a full
// commit and fsync plus the batch window.
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

// BenchmarkSaveParallel measures concurrent Saves of distinct credentials,
// which bbolt's DB.Batch groups into shared commits (one fsync per group).
func BenchmarkSaveParallel(b *testing.B) {
	s := openTemp(b, Options{})
	var next atomic.Int64
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		rec := fullRecord(fmt.Sprintf("parallel-%d", next.Add(1)))
		for pb.Next() {
			rec.Generation++
			if err := s.Save(b.Context(), rec); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
