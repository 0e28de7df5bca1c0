package scheduler

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/tokend/tokend/internal/state"
)

// maxSaveRetry caps the wait between retries of an answered refresh's save:
// its refresh token is already spent, so the new one must reach disk as soon
// as the disk allows (issue 16: with the general backoff, sized from the old
// record's expiry, retries were 15 s apart and a stop lost them).
const maxSaveRetry = time.Second

// saveRetryDelay is the wait before save retry number attempt (1 = first):
// 100 ms doubling up to maxSaveRetry, jittered into [d/2, d].
func saveRetryDelay(attempt int, jitter float64) time.Duration {
	d := 100 * time.Millisecond
	for i := 1; i < attempt && d < maxSaveRetry; i++ {
		d *= 2
	}
	d = min(d, maxSaveRetry)
	return d/2 + time.Duration(jitter*float64(d/2))
}

// savePending retries, until deadline, the save of every answered refresh
// still held in memory (the jobs are finished: shutdown calls it after the
// workers), re-creating a deleted store file first when it can. It returns
// the names it could not save.
func (s *Scheduler) savePending(deadline time.Time) []string {
	var storeChecked time.Time
	for {
		type held struct {
			e   *entry
			rec state.Record
		}
		var todo []held
		s.mu.Lock()
		for _, name := range s.order {
			if e := s.entries[name]; e.pending != nil {
				todo = append(todo, held{e, *e.pending})
			}
		}
		s.mu.Unlock()
		if len(todo) == 0 {
			return nil
		}
		if time.Until(deadline) <= 0 {
			names := make([]string, len(todo))
			for i, h := range todo {
				names[i] = h.e.cred.Name
			}
			return names
		}
		s.keepStore(&storeChecked)
		for _, h := range todo {
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			err := s.save(ctx, h.rec)
			cancel()
			if err != nil {
				h.e.log.Warn("shutdown: saving an answered refresh failed; retrying within the grace period", zap.Error(err))
				continue
			}
			s.mu.Lock()
			h.e.rec, h.e.pending, h.e.status, h.e.attempt = h.rec, nil, state.StatusOK, 0
			hold := h.e.hold
			h.e.hold = nil
			s.mu.Unlock()
			if hold != nil {
				hold() // on disk now: the claim kept for it goes
			}
			h.e.log.Info("shutdown: answered refresh saved", zap.Uint64("generation", h.rec.Generation))
		}
		time.Sleep(min(250*time.Millisecond, max(time.Until(deadline), 0)))
	}
}

// releaseHolds gives up the claims still kept for answers that were never
// saved (shutdown, after savePending gave up on them): the answers are lost
// with this process, and other replicas must be able to claim again.
func (s *Scheduler) releaseHolds() {
	var holds []func()
	s.mu.Lock()
	for _, e := range s.entries {
		if e.hold != nil {
			holds = append(holds, e.hold)
			e.hold = nil
		}
	}
	s.mu.Unlock()
	for _, h := range holds {
		h()
	}
}

// UnsavedError is what Run returns when it stopped with answered refreshes
// that never reached the state store within the shutdown grace: the new
// refresh tokens the provider issued for Credentials are lost (the old ones
// are spent), so each will need re-authorization. `tokend run` exits with
// a code of its own for it.
type UnsavedError struct {
	Credentials []string
}

func (e *UnsavedError) Error() string {
	return fmt.Sprintf("stopped with %d answered refresh(es) not saved (their new refresh tokens are lost): %s",
		len(e.Credentials), strings.Join(e.Credentials, ", "))
}
