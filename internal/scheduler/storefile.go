package scheduler

import (
	"time"

	"go.uber.org/zap"

	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/state"
)

// SeedLedger is an optional power of a Store, found by type assertion: it
// remembers which refresh_token_file token seeded each credential, so that
// a seed is presented at most once. Without it, a credential the store has
// no record of is seeded from its file every time (issue 16: a lost store
// then re-presents a refresh token the provider rotated long ago).
// SeededWith reports whether rt already seeded name, and when; RecordSeed
// records it durably (nil: it survives a crash). Both are safe for concurrent use.
type SeedLedger interface {
	SeededWith(name string, rt secret.Secret) (time.Time, bool)
	RecordSeeds(seeds map[string]secret.Secret) error
}

// FileKeeper is an optional power of a Store kept in one file, found by type
// assertion. CheckFile reports whether the file at the store's path is still
// the one open (an error names the path when it was deleted or replaced: the
// store's Save then refuses to commit); Healthy is false from such a finding
// until Recreate has put the store back at its path from the open file.
type FileKeeper interface {
	CheckFile() error
	Healthy() bool
	Recreate() error
	Path() string
}

// storeCheckEvery is how often the loop checks a FileKeeper's file (and the
// longest the loop sleeps when there is one); a failed save wakes it at once.
const storeCheckEvery = 5 * time.Second

// keepStore runs on the scheduler loop: it checks the store's file at most
// every second (at once after a failure was seen), and when it was deleted
// or replaced logs an error naming the path and re-creates it; answered
// refreshes held in memory are then saved at once.
func (s *Scheduler) keepStore(last *time.Time) {
	fk, ok := s.store.(FileKeeper)
	if !ok || (fk.Healthy() && time.Since(*last) < time.Second) {
		return
	}
	*last = time.Now()
	err := fk.CheckFile()
	if err == nil {
		return
	}
	s.log.Error("the state store file was deleted or replaced while tokend runs: not ready; no refresh token is spent until it is back; re-creating it from the open store (the newest records)",
		zap.String("path", fk.Path()), zap.Error(err))
	if err := fk.Recreate(); err != nil {
		s.log.Error("could not re-create the state store; retrying", zap.String("path", fk.Path()), zap.Error(err))
		return
	}
	s.log.Info("state store re-created at its path; ready again", zap.String("path", fk.Path()))
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, name := range s.order {
		if e := s.entries[name]; e.pending != nil && !e.inflight {
			s.scheduleLocked(e, jobSave, now)
		}
	}
}

// seedOnce returns whether refresh token rt may seed credential e: not when
// the store's SeedLedger says it already did (then rec says why).
func (s *Scheduler) seedOnce(e *entry, rt secret.Secret, rec *state.Record, now time.Time) bool {
	led, ok := s.store.(SeedLedger)
	if !ok {
		return true
	}
	if at, seen := led.SeededWith(e.cred.Name, rt); seen {
		rec.Status = state.StatusNeedsReauth
		rec.LastError = &state.ErrorInfo{Class: "permanent", Code: "seed_already_used", At: now,
			Description: "the state store has no record of this credential, but refresh_token_file holds the refresh token that already seeded it on " +
				at.Format(time.RFC3339) + ": the provider has most likely rotated it since (was the store lost, or restored from an older backup?), " +
				"so it is not presented again: run tokend authorize or tokend import, or put a new refresh token in refresh_token_file"}
		return false
	}
	if s.seeds == nil {
		s.seeds = map[string]secret.Secret{}
	}
	s.seeds[e.cred.Name] = rt // recorded by flushSeeds before any job starts
	return true
}

// flushSeeds records the seeds taken since the last call in one durable
// write. The loop calls it before dispatching jobs, so a seed is on record
// before it is presented; a failure is logged (the refresh intent is still
// saved before the token is spent).
func (s *Scheduler) flushSeeds() {
	s.mu.Lock()
	seeds := s.seeds
	s.seeds = nil
	s.mu.Unlock()
	led, ok := s.store.(SeedLedger)
	if !ok || len(seeds) == 0 {
		return
	}
	if err := led.RecordSeeds(seeds); err != nil {
		s.log.Warn("could not record the seeding from refresh_token_file", zap.Int("credentials", len(seeds)), zap.Error(err))
	}
}
