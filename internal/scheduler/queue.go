package scheduler

import (
	"container/heap"
	"time"
)

// jobKind says what a queued item does when it comes due.
type jobKind int

const (
	jobRefresh jobKind = iota // call the token endpoint (or re-check the store)
	jobSinks                  // (re)write sinks that are behind
	jobSave                   // retry saving an answered refresh that did not reach disk
)

func (k jobKind) String() string {
	switch k {
	case jobRefresh:
		return "refresh"
	case jobSinks:
		return "sinks"
	default:
		return "save"
	}
}

// item is one timer entry. Entries are never removed from the heap when
// rescheduled: an entry whose seq no longer matches its credential's current
// seq for that kind is stale and skipped when popped (lazy deletion keeps
// rescheduling O(log n)). compact drops stale items in bulk.
type item struct {
	at   time.Time // when it is due on the scheduler's clock (clock.go): the heap's order
	wall time.Time // the wall time it was planned for (logs, lateness)
	name string
	kind jobKind
	seq  uint64
}

// timerQueue is a min-heap of items ordered by due time (on the scheduler's
// clock): one timer structure for every credential instead of a goroutine and
// timer each.
//
// Its memory follows the live items: stale items are dropped once they make
// up half of the heap (a reload re-plans every credential, leaving one stale
// item each; repeated reloads would otherwise pile them up until their old
// due times), and the backing array is given back when a burst of due items
// has drained.
type timerQueue struct {
	h     itemHeap
	limit int // compact when h grows past this: twice its size after the last compaction
}

// minQueueCap is the size below which the queue neither compacts nor shrinks.
const minQueueCap = 256

// itemHeap implements heap.Interface.
type itemHeap []item

func (h itemHeap) Len() int           { return len(h) }
func (h itemHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h itemHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *itemHeap) Push(x any)        { *h = append(*h, x.(item)) }
func (h *itemHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = item{}
	*h = old[:len(old)-1]
	return it
}

// add queues it; when stale items have piled up, it first drops every item
// live reports as stale (live is Scheduler.currentLocked; it must not change
// the queue).
func (q *timerQueue) add(it item, live func(item) bool) {
	if len(q.h) >= max(q.limit, minQueueCap) {
		q.compact(live)
	}
	heap.Push(&q.h, it)
}

// compact keeps the live items, in a right-sized array, and restores the
// heap order: O(n), paid for by the n adds before the next compaction.
func (q *timerQueue) compact(live func(item) bool) {
	n := 0
	for _, it := range q.h {
		if live(it) {
			n++
		}
	}
	kept := make(itemHeap, 0, n+n/4+1)
	for _, it := range q.h {
		if live(it) {
			kept = append(kept, it)
		}
	}
	heap.Init(&kept)
	q.h, q.limit = kept, 2*len(kept)
}

// peek returns the earliest item without removing it.
func (q *timerQueue) peek() (item, bool) {
	if len(q.h) == 0 {
		return item{}, false
	}
	return q.h[0], true
}

// pop removes the earliest item. A backing array left half empty (a burst
// of due items has drained: at start-up, one sink round per credential) is
// replaced by one a quarter larger than what is left. Each copy of n items
// follows at least n/4 pops or adds since the last, so pops stay O(log n)
// amortised.
func (q *timerQueue) pop() item {
	it := heap.Pop(&q.h).(item)
	if n := len(q.h); cap(q.h) > minQueueCap && n < cap(q.h)/2 {
		q.h = append(make(itemHeap, 0, n+n/4+1), q.h...)
	}
	return it
}

// len is the number of queued items, stale ones included.
func (q *timerQueue) len() int { return len(q.h) }
