package scheduler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/sinks"
	"github.com/tokend/tokend/internal/state"
)

// job is a snapshot of what a worker needs; workers never touch entries.
type job struct {
	e       *entry // identity only: workers never read or write it
	kind    jobKind
	cred    Credential
	rec     state.Record  // last committed record known to the loop
	pending *state.Record // answered refresh not yet on disk (jobSave)
	behind  []int         // sink indexes to write (jobSinks)
	forced  bool
	unknown bool      // the last attempt's outcome is unknown (intent found, or no answer)
	planned time.Time // when the timer item was due (for the lateness log field)
	prov    *provider // provider slot held by a refresh job (limits.go); released in finish
	recheck bool      // a due refresh of a needs_reauth credential in a shared store: only read the record (recheck.go)
	hold    func()    // the claim kept while the pending answer is unsaved (jobSave; see result.hold)
}

// result is what a worker reports back to the loop.
type result struct {
	rec      state.Record  // record after the job (committed, adopted or with error status)
	pending  *state.Record // provider answered, save failed: keep in memory and retry
	err      error         // refresh/save error, nil on success
	adopted  bool          // the store held a newer generation; no provider call made
	claimed  bool          // another replica holds the claim; re-check later
	recheck  bool          // a needs_reauth re-check (recheck.go); adopted: the store held a newer generation
	spent    bool          // the token endpoint was called
	sinkErrs map[int]error // per sink index; absent = written
	duration time.Duration
	started  time.Time // when the token endpoint call started (zero: not called)
	issued   string    // the answer's issued_token_type (RFC 8693), for the log; "" when none
	guessed  bool      // the provider sent no expiry: rec.ExpiresAt is default_lifetime's guess
	// hold releases the refresh claim this answered-but-unsaved refresh
	// still holds (shared stores only, with pending set). The claim is kept
	// until the answer is on disk: released, another replica would read
	// the record whose refresh token this one already spent and spend it
	// again — reuse, which a strict provider punishes by revoking the whole
	// family, the new refresh token held in memory with it.
	hold func()
}

// storageError marks failures of the state store, as opposed to the provider.
type storageError struct{ err error }

func (e *storageError) Error() string { return e.err.Error() }
func (e *storageError) Unwrap() error { return e.err }

// startLocked launches the worker for a due item. A refresh held back by its
// provider's limit (limits.go) waits in that provider's FIFO instead. from is
// the FIFO the item comes from (nil: the timer queue); false means the item
// is still held back there and stays at its head.
func (s *Scheduler) startLocked(ctx context.Context, it item, from *provider) bool {
	e := s.entries[it.name]
	if e == nil || e.removed {
		return true
	}
	if e.inflight {
		e.deferred[it.kind] = true // run it when the job in flight finishes
		return true
	}
	j := job{e: e, kind: it.kind, cred: e.cred, rec: e.rec, pending: e.pending, forced: e.forced, unknown: e.unknown, planned: it.wall, hold: e.hold}
	switch it.kind {
	case jobRefresh:
		if j.recheck = s.rechecksLocked(e); j.recheck {
			break // needs_reauth: only look for a record another writer stored
		}
		if e.pending != nil { // never spend a token while the newer one is not on disk
			j.kind = jobSave
		} else if j.prov = s.providerLocked(e.cred.Provider); !s.admitLocked(j.prov, it, from) {
			return j.prov != from // only calls to the token endpoint count against the provider
		}
		e.forced = false
		e.status = state.StatusRefreshing
	case jobSinks:
		j.behind = e.behindLocked()
		if len(j.behind) == 0 {
			return true
		}
	case jobSave:
		if e.pending == nil {
			return true
		}
	}
	e.inflight = true
	s.running++
	s.workers.Add(1)
	go func() {
		defer s.workers.Done()
		var res result
		switch j.kind {
		case jobRefresh:
			if j.recheck {
				res = s.recheck(ctx, j)
				break
			}
			res = s.refresh(ctx, j)
		case jobSave:
			res = s.retrySave(ctx, j)
		case jobSinks:
			res = result{rec: j.rec, sinkErrs: s.writeSinks(ctx, j.cred, j.rec, j.behind)}
		}
		s.finish(j, res)
	}()
	return true
}

// refresh runs the refresh order for one credential.
func (s *Scheduler) refresh(ctx context.Context, j job) result {
	name := j.cred.Name
	rec := j.rec
	parent := ctx
	ctx, release, err := s.claim(ctx, name) // claim.go: ctx now ends when the claim is lost
	if errors.Is(err, state.ErrClaimed) {
		return s.adoptDespiteClaim(parent, j)
	}
	if err != nil {
		return result{rec: rec, err: &storageError{fmt.Errorf("claiming %q before refreshing: %w", name, err)}}
	}
	keep := false // the answer could not be saved: the claim stays with it (result.hold)
	defer func() {
		if !keep {
			release()
		}
	}()
	lost := func() bool { return ctx.Err() != nil && parent.Err() == nil }
	// Re-check: another writer (replica, import) may have refreshed meanwhile.
	if s.mayHoldNewer(name, rec) { // known.go: a store this process alone writes may know it holds rec
		cur, err := s.store.Load(ctx, name)
		switch {
		case errors.Is(err, state.ErrNotFound):
		case err != nil:
			return result{rec: rec, err: &storageError{fmt.Errorf("loading state for %q: %w", name, err)}}
		case cur.Generation > rec.Generation || (cur.Generation == rec.Generation && rec.RefreshToken.IsZero()):
			rec = cur
			if cur.Generation > j.rec.Generation && !j.forced && cur.Status == state.StatusOK && !s.due(j.cred, cur) {
				return result{rec: cur, adopted: true}
			}
		}
	}
	needsRT := j.cred.Grant.SpendsRefreshToken()
	if needsRT && rec.RefreshToken.IsZero() {
		return result{rec: rec, err: &grants.Error{Credential: name, Code: "no_refresh_token", Class: grants.ClassPermanent,
			Description: "no refresh token stored: run tokend authorize or tokend import for this credential"}}
	}
	if p, ok := j.cred.Source.(Preparer); ok {
		if err := p.Prepare(ctx); err != nil { // nothing was sent: the outcome is known
			rec = rec.Failed(errorInfo(err, false, s.now()), grants.IsPermanent(err), true)
			s.persistFailure(ctx, rec, credLog{base: s.credLog, name: name})
			return result{rec: rec, err: err}
		}
	}
	start := s.now()
	if needsRT {
		// Record the intent durably before spending the refresh token.
		rec = rec.WithIntent(start)
		if err := s.save(ctx, rec); err != nil {
			rec.Intent = nil
			return result{rec: rec, err: &storageError{fmt.Errorf("recording refresh intent for %q (refresh token not spent): %w", name, err)}}
		}
	}
	tok, err := s.renew(ctx, j.cred, rec.RefreshToken) // bounded; cancelled by shutdown (stopping.go)
	dur := s.now().Sub(start)
	if err != nil {
		var ge *grants.Error
		answered := errors.As(err, &ge) && ge.OutcomeKnown() // the provider answered: the outcome is known
		rec = rec.Failed(errorInfo(err, j.unknown && grants.IsPermanent(err), s.now()), grants.IsPermanent(err), answered)
		if lost() { // the new holder owns the record now: leave it alone
			return result{rec: rec, err: &storageError{fmt.Errorf("refreshing %q: the refresh claim was lost: %w", name, err)}, spent: true, duration: dur}
		}
		s.persistFailure(ctx, rec, credLog{base: s.credLog, name: name})
		return result{rec: rec, err: err, spent: true, duration: dur}
	}
	next := rec.Refreshed(TokensFrom(tok), start, s.now())
	if lost() {
		return s.commitAfterLoss(ctx, j, rec, next, dur)
	}
	// The provider has answered: finish the save even if shutdown began.
	if err := s.save(context.WithoutCancel(ctx), next); err != nil {
		res := result{rec: rec, pending: &next, spent: true, duration: dur,
			err: &storageError{fmt.Errorf("saving refreshed state for %q: %w", name, err)}}
		if s.shared() {
			keep, res.hold = true, release
		}
		return res
	}
	return result{rec: next, spent: true, duration: dur, started: start, issued: tok.IssuedTokenType, guessed: tok.ExpirySource == expiryGuessed,
		sinkErrs: s.writeSinks(ctx, j.cred, next, allSinks(len(j.cred.Sinks)))}
}

// retrySave retries saving an answered refresh, then writes the sinks.
func (s *Scheduler) retrySave(ctx context.Context, j job) result {
	if err := s.save(context.WithoutCancel(ctx), *j.pending); err != nil {
		return result{rec: j.rec, pending: j.pending,
			err: &storageError{fmt.Errorf("saving refreshed state for %q: %w", j.cred.Name, err)}}
	}
	if j.hold != nil {
		j.hold() // on disk now: other replicas may claim the credential again
	}
	return result{rec: *j.pending, sinkErrs: s.writeSinks(ctx, j.cred, *j.pending, allSinks(len(j.cred.Sinks)))}
}

// save stores rec durably. A shared store's check-and-set conflict (another
// writer touched the record since this replica read it) is resolved once: the
// record is re-read, and rec is written over it only if rec is not older.
func (s *Scheduler) save(ctx context.Context, rec state.Record) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.SaveTimeout)
	defer cancel()
	err := s.store.Save(ctx, rec)
	if !errors.Is(err, state.ErrConflict) {
		return err
	}
	cur, lerr := s.store.Load(ctx, rec.Credential)
	if lerr != nil {
		return errors.Join(err, lerr)
	}
	if cur.Generation > rec.Generation {
		return fmt.Errorf("a newer generation (%d) was stored by another writer: %w", cur.Generation, err)
	}
	return s.store.Save(ctx, rec)
}

// due reports whether rec's token should be refreshed now.
func (s *Scheduler) due(c Credential, rec state.Record) bool {
	if rec.AccessToken.IsZero() {
		return true
	}
	now := s.now()
	at := NextRefresh(Plan{Now: now, IssuedAt: rec.IssuedAt, ExpiresAt: rec.ExpiresAt, RefreshBefore: c.RefreshBefore,
		RefreshTokenExpiresAt: rec.RefreshTokenExpiresAt, RefreshTokenIssuedAt: rec.RefreshTokenIssuedAt})
	return !at.IsZero() && !at.After(now)
}

// writeSinks writes rec's access token to the given sinks, each on its own
// and at the same time, so a slow sink (a Vault round trip, a change hook
// that takes its 30 s) does not hold up the others; one failing does not
// stop the others. It returns when all have finished.
func (s *Scheduler) writeSinks(ctx context.Context, c Credential, rec state.Record, idx []int) map[int]error {
	if rec.AccessToken.IsZero() {
		return nil
	}
	tok := sinks.Token{Credential: c.Name, AccessToken: rec.AccessToken, TokenType: rec.TokenType,
		Scope: rec.Scope, ExpiresAt: rec.ExpiresAt, Generation: rec.Generation, Extra: revealExtra(rec.Extra)}
	results := make([]error, len(idx))
	write := func(k int) {
		i := idx[k]
		wctx, cancel := context.WithTimeout(ctx, s.opts.SinkTimeout)
		err := c.Sinks[i].Write(wctx, tok)
		cancel()
		s.obs.SinkWritten(c.Name, c.Sinks[i].String(), err)
		results[k] = err
	}
	if len(idx) == 1 {
		write(0)
	} else {
		var wg sync.WaitGroup
		for k := range idx {
			wg.Go(func() { write(k) })
		}
		wg.Wait()
	}
	var errs map[int]error
	for k, err := range results {
		if err != nil {
			if errs == nil {
				errs = map[int]error{}
			}
			errs[idx[k]] = err
		}
	}
	return errs
}

// revealExtra is the record's kept response fields as sinks take them (nil
// when none); each write gets its own map.
func revealExtra(extra map[string]secret.Secret) map[string]string {
	if len(extra) == 0 {
		return nil
	}
	out := make(map[string]string, len(extra))
	for k, v := range extra {
		out[k] = v.Reveal()
	}
	return out
}

func allSinks(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// persistFailure stores the error status so restarts and `tokend status` see
// it. It runs in the worker, outside the lock; a failure is only logged.
func (s *Scheduler) persistFailure(ctx context.Context, rec state.Record, log credLog) {
	if err := s.save(context.WithoutCancel(ctx), rec); err != nil {
		log.Warn("could not record the error status in the state store", zap.Error(err))
	}
}
