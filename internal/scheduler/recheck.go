package scheduler

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/tokend/tokend/internal/state"
)

// DefaultReauthRecheck is Options.ReauthRecheck's default.
const DefaultReauthRecheck = 15 * time.Second

// A credential in needs_reauth is not refreshed: only a new token can help.
// With a shared store (a Claimer: the vault backend) that token arrives in
// the store itself — `tokend authorize` or `tokend import` write it there
// directly (issue 14 item 4), or another replica adopts one — so each
// replica re-reads such a credential's record every ReauthRecheck and adopts
// a newer generation. A re-check only reads: no claim, no token endpoint.

// shared reports whether the store is shared with other writers (it has
// claims: a Claimer or a Holder).
func (s *Scheduler) shared() bool {
	switch s.store.(type) {
	case Claimer, Holder:
		return true
	}
	return false
}

// rechecksLocked reports whether a due jobRefresh of e is a re-check.
func (s *Scheduler) rechecksLocked(e *entry) bool {
	return e.status == state.StatusNeedsReauth && !e.forced && e.pending == nil && s.shared()
}

// recheckLaterLocked plans e's next re-check (shared stores only). A
// re-check is not a planned refresh: e.next stays zero.
func (s *Scheduler) recheckLaterLocked(e *entry, now time.Time) {
	if !s.shared() {
		return
	}
	s.scheduleLocked(e, jobRefresh, now.Add(s.opts.ReauthRecheck))
	e.next = time.Time{}
}

// recheck reads j's record; adopted says it holds a newer generation.
func (s *Scheduler) recheck(ctx context.Context, j job) result {
	cur, err := s.store.Load(ctx, j.cred.Name)
	if err != nil || cur.Generation <= j.rec.Generation {
		return result{rec: j.rec, recheck: true}
	}
	return result{rec: cur, recheck: true, adopted: true}
}

// recheckedLocked applies a re-check: a newer record is planned as at
// start-up (valid token: sinks and the next refresh; token still to be
// obtained: a refresh now; needs_reauth again: the next re-check);
// otherwise the next re-check is planned.
func (s *Scheduler) recheckedLocked(e *entry, j job, res result, now time.Time) {
	if res.adopted && e.status == state.StatusNeedsReauth {
		e.attempt, e.unknown = 0, false
		e.log.Info("adopted a record stored by another writer (tokend authorize or import, or another replica)",
			zap.Uint64("generation", res.rec.Generation), zap.String("stored_status", string(res.rec.Status)))
		s.prepareRecordLocked(e, res.rec, true, now)
	} else if e.status == state.StatusNeedsReauth {
		s.recheckLaterLocked(e, now)
	}
	s.runDeferredLocked(e, j, now)
	s.obs.StatusChanged(s.statusLocked(e))
}
