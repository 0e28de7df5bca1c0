package scheduler

import "github.com/tokend/tokend/internal/state"

// CommitKnower is an optional power of a Store that this process alone
// writes (the file store: locked against a second tokend, every write goes
// through it), found by type assertion. Committed reports the generation of
// the record last committed for name through the store, and false when it
// does not know (nothing committed for name since it was opened: the record
// must be read). It must be safe for concurrent use and must not block on
// the store's I/O. A store shared with other writers (a Claimer) cannot
// know what they wrote: refresh always reads its record.
type CommitKnower interface {
	Committed(name string) (generation uint64, ok bool)
}

// mayHoldNewer reports whether the store may hold a record for name that
// refresh's re-check would take over rec: one of a newer generation, or of
// the same generation while rec has no refresh token. Only then is the
// record read (issue 17: the read and its decoding were a sixth of a
// rotation's CPU). A record written through the store by anyone in this
// process (an import through the admin API) has moved its committed
// generation past rec's, so it is still read and seen.
func (s *Scheduler) mayHoldNewer(name string, rec state.Record) bool {
	k, ok := s.store.(CommitKnower)
	if !ok || s.shared() {
		return true
	}
	g, known := k.Committed(name)
	return !known || g > rec.Generation || (g == rec.Generation && rec.RefreshToken.IsZero())
}
