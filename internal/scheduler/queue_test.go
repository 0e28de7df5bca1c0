package scheduler

import (
	"fmt"
	"testing"
	"time"
)

// TestTimerQueueStaleItemsDoNotPileUp reschedules the same items again and
// again (as repeated reloads do): the queue stays proportional to the live
// items, and pops still come out in order with every live item present.
func TestTimerQueueStaleItemsDoNotPileUp(t *testing.T) {
	const names = 1000
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	seq := map[string]uint64{}
	live := func(it item) bool { return seq[it.name] == it.seq }
	var q timerQueue
	for round := range 20 {
		for i := range names {
			n := fmt.Sprint("c", i)
			seq[n]++
			q.add(item{at: t0.Add(time.Duration((i*7919+round)%names) * time.Second), name: n, kind: jobRefresh, seq: seq[n]}, live)
		}
		if q.len() > 2*names+minQueueCap {
			t.Fatalf("round %d: %d items queued for %d live", round, q.len(), names)
		}
	}
	seen := map[string]bool{}
	var last time.Time
	for q.len() > 0 {
		it := q.pop()
		if it.at.Before(last) {
			t.Fatalf("popped %v after %v", it.at, last)
		}
		last = it.at
		if live(it) {
			seen[it.name] = true
		}
	}
	if len(seen) != names {
		t.Fatalf("%d live items popped, want %d", len(seen), names)
	}
	if c := cap(q.h); c > 2*minQueueCap {
		t.Errorf("drained queue keeps an array of %d items", c)
	}
}
