package scheduler

import (
	"context"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// ProviderLimit bounds the calls to one provider's token endpoint
// (Credential.Provider names the provider). Only refresh jobs count: sink
// writes and save retries never call the provider. The zero value imposes
// nothing beyond Options.MaxConcurrent, which stays the global bound.
type ProviderLimit struct {
	MaxConcurrent int     // refreshes in flight at once; 0: no per-provider bound
	Rate          float64 // refreshes started per second; 0: unlimited
	Burst         int     // starts allowed back to back before Rate applies; < 1 means 1
}

// provider is the loop's gate for one limited provider. A refresh starts only
// with a slot (running < max) and a token from lim; one that finds either
// missing waits in the FIFO waiting and is started by the loop, oldest first,
// when a slot frees (finish wakes the loop) or the reserved token comes due
// (the loop sleeps until tokenAt). Guarded by Scheduler.mu.
type provider struct {
	key     string
	max     int           // 0: no concurrency bound
	lim     *rate.Limiter // nil: no rate limit
	every   time.Duration // 1/rate: the longest a held token can be ahead of now
	running int           // refresh jobs started toward this provider and not finished
	waiting []item        // refresh items waiting for a slot or a token, oldest first
	// tokenAt is when the token reserved for the next start becomes usable
	// (zero: none held). The provider holds at most one reservation, not the
	// item, so a waiting item that is dropped (credential removed, refresh
	// re-planned) hands it to the next one instead of wasting it.
	tokenAt time.Time
}

// gates holds the provider gates, created the first time a provider is seen.
// Limits are read once per provider (Options.ProviderLimit); a provider that
// disappears on reload keeps its small gate.
type gates struct {
	byKey map[string]*provider // nil value: an unlimited provider
	order []*provider          // limited ones, for a stable drain order
	next  int                  // where the next drain starts (round robin)
}

// providerLocked returns the gate for key, or nil when nothing limits it.
func (s *Scheduler) providerLocked(key string) *provider {
	if key == "" || s.opts.ProviderLimit == nil {
		return nil
	}
	if p, ok := s.gates.byKey[key]; ok {
		return p
	}
	if s.gates.byKey == nil {
		s.gates.byKey = map[string]*provider{}
	}
	l := s.opts.ProviderLimit(key)
	var p *provider
	if l.MaxConcurrent > 0 || l.Rate > 0 {
		p = &provider{key: key, max: l.MaxConcurrent}
		if l.Rate > 0 {
			p.lim = rate.NewLimiter(rate.Limit(l.Rate), max(l.Burst, 1))
			p.every = time.Duration(float64(time.Second) / l.Rate)
		}
		s.gates.order = append(s.gates.order, p)
		s.log.Info("limiting calls to a provider's token endpoint", zap.String("provider", key),
			zap.Int("max_concurrent", l.MaxConcurrent), zap.Float64("rate", l.Rate), zap.Int("burst", max(l.Burst, 1)))
	}
	s.gates.byKey[key] = p
	return p
}

// take claims a slot and a token for a start at now and reports whether it
// got both. A token is reserved only once a slot is free, and held until used.
func (p *provider) take(now time.Time) bool {
	if p.max > 0 && p.running >= p.max {
		return false
	}
	if p.lim != nil {
		if p.tokenAt.IsZero() {
			r := p.lim.ReserveN(now, 1)
			if !r.OK() { // cannot happen with burst >= 1; never start unmetered
				return false
			}
			p.tokenAt = now.Add(r.DelayFrom(now))
		}
		// One held token is never more than 1/rate ahead; more means the wall
		// clock went back (the limiter itself copes with that).
		if limit := now.Add(p.every); p.tokenAt.After(limit) {
			p.tokenAt = limit
		}
		if p.tokenAt.After(now) {
			return false
		}
		p.tokenAt = time.Time{}
	}
	p.running++
	return true
}

// done releases the slot of a finished refresh job; nil-safe, called exactly
// once per started job (from finish).
func (p *provider) done() {
	if p != nil {
		p.running--
	}
}

// admitLocked gates a refresh about to start. from is the provider whose FIFO
// the item comes from (nil: it comes from the timer queue). An item that may
// not start is appended to p's FIFO unless it is already in it (it moves when
// a reload changed its credential's token endpoint host). Arrivals go behind
// waiting items so the FIFO keeps its order.
func (s *Scheduler) admitLocked(p *provider, it item, from *provider) bool {
	if p == nil {
		return true
	}
	if (from == p || len(p.waiting) == 0) && p.take(s.now()) {
		return true
	}
	if from != p {
		p.waiting = append(p.waiting, it)
		s.log.Debug("refresh waiting for its provider's limit", zap.String("credential", it.name),
			zap.String("provider", p.key), zap.Int("waiting", len(p.waiting)), zap.Int("in_flight", p.running))
	}
	return false
}

// startWaitingLocked starts waiting refreshes that now have a slot, a token
// and a worker, oldest first within a provider, providers in turn. Items
// whose credential was removed or whose refresh was re-planned meanwhile are
// dropped; they hold no slot.
func (s *Scheduler) startWaitingLocked(ctx context.Context) {
	n := len(s.gates.order)
	for i := range n {
		p := s.gates.order[(s.gates.next+i)%n]
		for len(p.waiting) > 0 && s.running < s.opts.MaxConcurrent {
			it := p.waiting[0]
			if s.currentLocked(it) && !s.startLocked(ctx, it, p) {
				break
			}
			p.waiting[0] = item{}
			p.waiting = p.waiting[1:]
		}
		if len(p.waiting) == 0 {
			p.waiting = nil // let a drained queue's array go (a burst can queue every credential)
		}
	}
	if n > 0 {
		s.gates.next = (s.gates.next + 1) % n
	}
}

// tokenWaitLocked returns how long until a waiting provider's reserved token
// comes due, or wait when none does sooner, so the loop wakes to start it.
func (s *Scheduler) tokenWaitLocked(now time.Time, wait time.Duration) time.Duration {
	for _, p := range s.gates.order {
		if len(p.waiting) > 0 && p.tokenAt.After(now) {
			wait = min(wait, p.tokenAt.Sub(now))
		}
	}
	return wait
}

// currentLocked reports whether a queued item is still wanted: its credential
// is configured and the item has not been superseded by a newer one.
func (s *Scheduler) currentLocked(it item) bool {
	e := s.entries[it.name]
	return e != nil && !e.removed && e.seq[it.kind] == it.seq
}
