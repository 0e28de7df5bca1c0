package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/state"
)

// entry is the loop's view of one credential. Guarded by Scheduler.mu.
type entry struct {
	cred     Credential
	log      credLog       // logs with a "credential" field; no child logger per entry
	rec      state.Record  // last committed record
	pending  *state.Record // answered refresh that is not on disk yet
	hold     func()        // releases the claim kept for pending (result.hold); nil when none
	status   state.Status
	next     time.Time // next planned refresh; zero when none
	expOf    time.Time // the rec.ExpiresAt that expAt was pinned for (expiryLocked)
	expAt    time.Time // rec's expiry on the scheduler's clock
	attempt  int       // consecutive refresh/save failures
	inflight bool
	forced   bool
	unknown  bool // outcome of the last spend is unknown
	guessed  bool // rec.ExpiresAt is default_lifetime's guess (known for refreshes made by this process only)
	removed  bool
	seq      [3]uint64 // current sequence per jobKind (stale timer items are skipped)
	deferred [3]bool   // a job of that kind came due while another was in flight
	sinks    []sinkState
	sinkTry  int           // consecutive failed sink rounds
	fpOf     secret.Secret // the access token fp was computed for (fingerprintLocked)
	fp       string
	rtWarned time.Time // the refresh-token expiry last warned about (rtexpiry.go)
}

// sinkState tracks delivery to one sink.
type sinkState struct {
	sink    Sink
	written uint64 // generation last written; 0 with ok=false = never
	ok      bool
	lastAt  time.Time // last attempt
	lastErr error
	lastOK  time.Time // last successful write
	expires time.Time // expiry of the token last written successfully (zero: unknown)
	failing bool      // the failure was logged at error level (sinkfail.go)
	failLog time.Time // when the last failure line was logged
	quiet   int       // failures not logged since failLog
}

// behindLocked lists sinks that do not hold the committed generation.
func (e *entry) behindLocked() []int {
	var idx []int
	for i, ss := range e.sinks {
		if !ss.ok || ss.written != e.rec.Generation {
			idx = append(idx, i)
		}
	}
	return idx
}

// startup loads each credential's record and plans its first job. A store
// that can (BulkLoader) reads them all in one pass. It logs one summary
// line; a credential gets a line of its own at start-up only when something
// is wrong with it (or at debug level).
func (s *Scheduler) startup(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if err := s.loadAllLocked(ctx, now); err != nil {
		return err
	}
	var valid, due, reauth, unknown int
	for _, name := range s.order {
		switch e := s.entries[name]; {
		case e.unknown:
			unknown++
		case e.status == state.StatusNeedsReauth:
			reauth++
		case !e.next.IsZero() && !e.next.After(now):
			due++
		case e.status == state.StatusOK:
			valid++
		}
	}
	s.log.Info("scheduler started", zap.Int("credentials", len(s.order)), zap.Int("max_concurrent", s.opts.MaxConcurrent),
		zap.Int("loaded_valid", valid), zap.Int("due_now", due), zap.Int("needs_reauth", reauth), zap.Int("outcome_unknown", unknown))
	return nil
}

// BulkLoader is an optional power of a Store, found by type assertion:
// LoadEach reads the records of names in one pass and calls fn for each,
// in order, with what Load would return for it (an error wrapping
// state.ErrNotFound when there is none); fn must not call the store, and
// its error stops the walk and is returned. *state.FileStore has it (one
// read transaction for every credential at start-up).
type BulkLoader interface {
	LoadEach(ctx context.Context, names []string, fn func(name string, rec state.Record, err error) error) error
}

// loadAllLocked loads every credential's record and plans its first job:
// through the store's BulkLoader when it has one, else one Load each.
func (s *Scheduler) loadAllLocked(ctx context.Context, now time.Time) error {
	bl, ok := s.store.(BulkLoader)
	if !ok {
		for _, name := range s.order {
			if err := s.prepareLocked(ctx, s.entries[name], now); err != nil {
				return err
			}
		}
		return nil
	}
	found := make([]bool, len(s.order))
	i := 0
	err := bl.LoadEach(ctx, s.order, func(name string, rec state.Record, err error) error {
		switch {
		case errors.Is(err, state.ErrNotFound):
		case err != nil:
			return fmt.Errorf("loading state for %q: %w", name, err)
		default:
			s.entries[name].rec, found[i] = rec, true // planned below, outside the store's transaction
		}
		i++
		return nil
	})
	if err != nil {
		return err
	}
	in := interner{}
	for i, name := range s.order {
		e := s.entries[name]
		rec := e.rec
		if found[i] {
			in.record(&rec, e.cred.Name)
		}
		s.prepareRecordLocked(e, rec, found[i], now)
	}
	return nil
}

// prepareLocked loads one credential's record and plans its first job.
func (s *Scheduler) prepareLocked(ctx context.Context, e *entry, now time.Time) error {
	rec, found, err := s.loadRecord(ctx, e.cred.Name)
	if err != nil {
		return err
	}
	s.prepareRecordLocked(e, rec, found, now)
	return nil
}

// loadRecord reads name's record from the store; found is false when there
// is none. It takes no lock.
func (s *Scheduler) loadRecord(ctx context.Context, name string) (rec state.Record, found bool, err error) {
	rec, err = s.store.Load(ctx, name)
	switch {
	case errors.Is(err, state.ErrNotFound):
		return state.Record{}, false, nil
	case err != nil:
		return state.Record{}, false, fmt.Errorf("loading state for %q: %w", name, err)
	}
	return rec, true, nil
}

// prepareRecordLocked plans a credential's first job from its stored record
// (or, with found false, from its seed).
func (s *Scheduler) prepareRecordLocked(e *entry, rec state.Record, found bool, now time.Time) {
	c := e.cred
	switch {
	case !found:
		rec = state.Record{Credential: c.Name, Status: state.StatusPending}
		if c.Grant.SpendsRefreshToken() {
			if c.Seed == nil {
				rec.Status = state.StatusNeedsReauth
				rec.LastError = &state.ErrorInfo{Class: "permanent", Code: "no_refresh_token", At: now,
					Description: "no refresh token stored and no refresh_token_file configured: run tokend authorize or tokend import"}
				break
			}
			rt, err := c.Seed()
			if err != nil {
				rec.Status = state.StatusNeedsReauth
				rec.LastError = &state.ErrorInfo{Class: "permanent", Code: "no_refresh_token", At: now,
					Description: fmt.Sprintf("no refresh token stored and the refresh_token_file cannot be used: %v", err)}
				break
			}
			if !s.seedOnce(e, rt, &rec, now) {
				break
			}
			rec.RefreshToken = rt
			e.log.Info("seeding the first refresh token from refresh_token_file", zap.String("refresh_token_fp", rt.Fingerprint()))
		}
	}
	e.rec, e.status = rec, rec.Status
	switch {
	case rec.Intent != nil:
		e.unknown = true
		e.log.Warn("refresh outcome unknown: a refresh was started but its answer never reached the state store; trying once with the stored refresh token",
			zap.Uint64("generation", rec.Intent.Generation), zap.Time("started_at", rec.Intent.StartedAt))
		s.scheduleLocked(e, jobRefresh, now)
	case rec.Status == state.StatusNeedsReauth:
		e.log.Error("credential needs re-authorization; not refreshing it", errorFields(rec.LastError)...)
		s.recheckLaterLocked(e, now) // a shared store may receive a new token (recheck.go)
		if !rec.AccessToken.IsZero() && (rec.ExpiresAt.IsZero() || rec.ExpiresAt.After(now)) {
			s.scheduleLocked(e, jobSinks, now) // a still-valid token stays in the sinks until it expires
		}
	case !rec.AccessToken.IsZero() && (rec.ExpiresAt.IsZero() || rec.ExpiresAt.After(now)):
		s.planLocked(e, now)
		e.status = state.StatusOK
		s.scheduleLocked(e, jobSinks, now)
		e.log.Debug("loaded valid token", s.recFields(e)...) // the start-up summary counts it
	default:
		s.scheduleLocked(e, jobRefresh, now)
	}
}

// planLocked schedules the next refresh from the committed record.
func (s *Scheduler) planLocked(e *entry, now time.Time) {
	s.expiryLocked(e) // pin the expiry on the scheduler's clock before the wall clock can step
	at := NextRefresh(Plan{Now: now, IssuedAt: e.rec.IssuedAt, ExpiresAt: e.rec.ExpiresAt,
		RefreshBefore: e.cred.RefreshBefore, Schedule: e.cred.Schedule, Jitter: s.opts.Rand(), MinDelay: s.opts.MinInterval,
		RefreshTokenExpiresAt: e.rec.RefreshTokenExpiresAt, RefreshTokenIssuedAt: e.rec.RefreshTokenIssuedAt})
	s.warnRefreshTokenLocked(e, now)
	if at.IsZero() {
		e.next = time.Time{}
		e.seq[jobRefresh]++ // cancel any queued refresh
		e.log.Warn("no expiry and no schedule: this credential will not be refreshed automatically")
		return
	}
	s.scheduleLocked(e, jobRefresh, at)
}
