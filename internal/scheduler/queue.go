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

// item is one timer entry. Entries are never removed from the heap: an entry
// whose seq no longer matches its credential's current seq for that kind is
// stale and skipped when popped (lazy deletion keeps rescheduling O(log n)).
type item struct {
	at   time.Time
	name string
	kind jobKind
	seq  uint64
}

// timerQueue is a min-heap of items ordered by due time: one timer structure
// for every credential instead of a goroutine and timer each.
type timerQueue []item

func (q timerQueue) Len() int           { return len(q) }
func (q timerQueue) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q timerQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *timerQueue) Push(x any)        { *q = append(*q, x.(item)) }
func (q *timerQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}

func (q *timerQueue) add(it item) { heap.Push(q, it) }

// peek returns the earliest item without removing it.
func (q timerQueue) peek() (item, bool) {
	if len(q) == 0 {
		return item{}, false
	}
	return q[0], true
}

func (q *timerQueue) pop() item { return heap.Pop(q).(item) }
