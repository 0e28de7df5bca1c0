package metrics

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/scheduler"
)

// The per-credential counters are kept as plain atomics in one small struct
// per credential and exposed as const metrics at scrape time, like the
// gauges. A CounterVec child costs about half a KiB per series (label pairs,
// descriptor, created timestamp) and one credential had up to six series,
// the largest per-credential cost in the heap (docs/performance.md, "Figures behind the code"). A
// credential removed by a reload is not exposed from the next scrape on, and
// its counters are freed at the one after (forgetOthers).
var (
	descAttempts = prometheus.NewDesc("tokend_refresh_attempts_total",
		"Calls to the token endpoint, by credential.", []string{"credential"}, nil)
	descFailures = prometheus.NewDesc("tokend_refresh_failures_total",
		"Failed calls to the token endpoint, by credential and error class (transient, permanent).", []string{"credential", "class"}, nil)
	descSinkWrites = prometheus.NewDesc("tokend_sink_writes_total",
		"Sink writes attempted, by credential and sink.", []string{"credential", "sink"}, nil)
	descSinkFailures = prometheus.NewDesc("tokend_sink_write_failures_total",
		"Sink writes that failed, by credential and sink.", []string{"credential", "sink"}, nil)
	descHookRuns = prometheus.NewDesc("tokend_hook_runs_total",
		"on_change hook runs, by credential and sink.", []string{"credential", "sink"}, nil)
	descHookFailures = prometheus.NewDesc("tokend_hook_failures_total",
		"on_change hook runs that failed or timed out, by credential and sink.", []string{"credential", "sink"}, nil)
)

// failureClasses are the values of the class label, in counters.failures
// order. grants.ClassOf gives one of them for every error.
var failureClasses = [...]grants.Class{grants.ClassTransient, grants.ClassPermanent}

// counters are one credential's event counters. A series exists once its
// first event happened, as with a CounterVec.
type counters struct {
	attempts atomic.Uint64
	failures [len(failureClasses)]atomic.Uint64
	sinks    []*sinkCounters // guarded by counterSet.mu; appended to, or replaced
	missed   bool            // guarded by counterSet.mu: absent from the last scrape's snapshot
}

// sinkCounters are the counters of one sink of a credential.
type sinkCounters struct {
	name                   string
	writes, writeFailures  atomic.Uint64
	hookRuns, hookFailures atomic.Uint64
}

// counterSet holds the counters of every credential that had an event. Its
// methods are safe for concurrent use; the lock is held only for map and
// slice access, never while counting.
type counterSet struct {
	mu    sync.RWMutex
	creds map[string]*counters
}

// cred returns the counters of the named credential, creating them.
func (s *counterSet) cred(name string) *counters {
	s.mu.RLock()
	c := s.creds[name]
	s.mu.RUnlock()
	if c != nil {
		return c
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c = s.creds[name]; c == nil {
		if s.creds == nil {
			s.creds = map[string]*counters{}
		}
		c = &counters{}
		s.creds[name] = c
	}
	return c
}

// sink returns the counters of one sink of the named credential, creating them.
func (s *counterSet) sink(cred, sink string) *sinkCounters {
	c := s.cred(cred)
	s.mu.RLock()
	sc := c.findSink(sink)
	s.mu.RUnlock()
	if sc != nil {
		return sc
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sc = c.findSink(sink); sc == nil {
		sc = &sinkCounters{name: sink}
		c.sinks = append(c.sinks, sc)
	}
	return sc
}

func (c *counters) findSink(name string) *sinkCounters {
	for _, sc := range c.sinks {
		if sc.name == name {
			return sc
		}
	}
	return nil
}

// classIndex is the failures index of err's class; a class this package
// does not list counts as transient, as grants.ClassOf treats unknown errors.
func classIndex(err error) int {
	class := grants.ClassOf(err)
	for i, c := range failureClasses {
		if c == class {
			return i
		}
	}
	return 0
}

// collect sends the counters of the named credential and reports whether it
// has any. keepSink, if not nil, says which of its sinks are still
// configured; the others are dropped.
func (s *counterSet) collect(ch chan<- prometheus.Metric, name string, keepSink func(string) bool) bool {
	s.mu.RLock()
	c := s.creds[name]
	var sinks []*sinkCounters
	if c != nil {
		sinks = c.sinks
	}
	s.mu.RUnlock()
	if c == nil {
		return false
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	if n := c.attempts.Load(); n > 0 {
		counter(descAttempts, n, name)
	}
	for i, class := range failureClasses {
		if n := c.failures[i].Load(); n > 0 {
			counter(descFailures, n, name, string(class))
		}
	}
	dropped := false
	for _, sc := range sinks {
		if keepSink != nil && !keepSink(sc.name) {
			dropped = true
			continue
		}
		// Failures are read first and counted last (metrics.go): never more than the total.
		if f, n := sc.writeFailures.Load(), sc.writes.Load(); n > 0 {
			counter(descSinkWrites, n, name, sc.name)
			counter(descSinkFailures, f, name, sc.name)
		}
		if f, n := sc.hookFailures.Load(), sc.hookRuns.Load(); n > 0 {
			counter(descHookRuns, n, name, sc.name)
			counter(descHookFailures, f, name, sc.name)
		}
	}
	if dropped { // a copy: a concurrent collect may still be reading the old slice
		s.mu.Lock()
		c.sinks = slices.DeleteFunc(slices.Clone(c.sinks), func(sc *sinkCounters) bool { return !keepSink(sc.name) })
		s.mu.Unlock()
	}
	return true
}

// collectAll sends every credential's counters (no snapshot to filter by).
func (s *counterSet) collectAll(ch chan<- prometheus.Metric) {
	s.mu.RLock()
	names := make([]string, 0, len(s.creds))
	for name := range s.creds {
		names = append(names, name)
	}
	s.mu.RUnlock()
	for _, name := range names {
		s.collect(ch, name, nil)
	}
}

// forgetOthers drops the counters of credentials that are not in sts
// (removed by a reload) for the second scrape in a row; counted is how many
// of sts have counters. Waiting one scrape keeps the counters of a
// credential that a reload added after the snapshot was taken; a removed one
// is no longer exposed either way.
func (s *counterSet) forgetOthers(sts []scheduler.CredentialStatus, counted int) {
	s.mu.RLock()
	n := len(s.creds)
	s.mu.RUnlock()
	if n <= counted { // names are unique: every set of counters is in sts
		return
	}
	keep := make(map[string]bool, len(sts))
	for _, st := range sts {
		keep[st.Name] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, c := range s.creds {
		switch {
		case keep[name]:
			c.missed = false
		case c.missed:
			delete(s.creds, name)
		default:
			c.missed = true
		}
	}
}
