package scheduler

import (
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/state"
)

// What a finished job changes: the loop applies a worker's result to the
// credential's entry and plans the next job (entry.go holds the entry and its
// start-up planning; job.go the work itself).

// finish applies a worker's result and plans what comes next.
func (s *Scheduler) finish(j job, res result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running--
	j.prov.done() // the provider slot, even if the credential was removed meanwhile
	select {
	case s.wake <- struct{}{}:
	default:
	}
	e := j.e
	e.inflight = false
	if res.hold != nil {
		e.hold = res.hold // kept even for a removed entry: shutdown releases it
	} else if j.hold != nil && res.pending == nil {
		e.hold = nil // retrySave released it with the answer on disk
	}
	if e.removed || s.entries[e.cred.Name] != e {
		return // removed (or removed and re-added) by a reload meanwhile
	}
	now := s.now()
	if res.recheck {
		s.recheckedLocked(e, j, res, now)
		return
	}
	if res.spent {
		s.obs.RefreshFinished(j.cred.Name, res.duration, res.err)
	}
	switch {
	case res.claimed:
		// Another replica is refreshing: look again shortly and adopt its result.
		d := s.opts.MinInterval + time.Duration(s.opts.Rand()*float64(s.opts.MinInterval))
		e.status = e.rec.Status
		e.log.Debug("another replica holds the claim; re-checking", zap.Duration("recheck_in", d))
		s.scheduleLocked(e, jobRefresh, now.Add(d))
	case res.adopted:
		e.rec, e.status, e.attempt, e.unknown, e.guessed = res.rec, state.StatusOK, 0, false, false
		e.log.Info("adopted a newer token refreshed elsewhere", s.recFields(e)...)
		s.planLocked(e, now)
		s.scheduleLocked(e, jobSinks, now)
	case res.pending != nil:
		e.pending, e.status = res.pending, state.StatusBackoff
		e.attempt++
		d := saveRetryDelay(e.attempt, s.opts.Rand())
		fields := []zap.Field{zap.Error(res.err), zap.Duration("retry_in", d), zap.Int("attempt", e.attempt)}
		if e.hold != nil { // other replicas wait for it instead of spending the old refresh token
			fields = append(fields, zap.Bool("refresh_claim_kept", true))
		}
		e.log.Error("the provider issued a new token but it could not be saved; holding it in memory and retrying the save (sinks are written only after it is on disk)",
			fields...)
		s.scheduleLocked(e, jobSave, now.Add(d))
	case stoppedByShutdown(res.err):
		s.stoppedLocked(e, res) // no backoff line for a request shutdown cancelled (stopping.go)
	case res.err != nil:
		s.failedLocked(e, j, res, now)
	case j.kind == jobSinks:
		// sink-only round; handled below
	default:
		e.rec, e.pending, e.status, e.attempt, e.unknown = res.rec, nil, state.StatusOK, 0, false
		e.guessed = res.guessed
		s.planLocked(e, now)
		fields := append(s.recFields(e), zap.Duration("took", res.duration))
		if !res.started.IsZero() && !j.planned.IsZero() {
			// late: how long after its planned time the token endpoint was called
			// (queueing for a worker, intent save); tokend-bench reads it.
			fields = append(fields, zap.Time("planned_at", j.planned), zap.Duration("late", res.started.Sub(j.planned)))
		}
		if res.issued != "" {
			fields = append(fields, zap.String("issued_token_type", res.issued)) // a type URI, not a secret
		}
		e.log.Info("refreshed", fields...)
	}
	s.sinkResultsLocked(e, j, res, now)
	s.runDeferredLocked(e, j, now)
	s.obs.StatusChanged(s.statusLocked(e))
}

// runDeferredLocked re-queues jobs that came due while e was busy. A refresh
// that became due during a sink write must not be lost; one that the finished
// job already covered (it was a refresh itself, and re-planned) is dropped.
func (s *Scheduler) runDeferredLocked(e *entry, j job, now time.Time) {
	d := e.deferred
	e.deferred = [3]bool{}
	if e.forced || (d[jobRefresh] && j.kind == jobSinks && e.status != state.StatusNeedsReauth) {
		s.scheduleLocked(e, jobRefresh, now)
	}
	if d[jobSinks] && len(e.behindLocked()) > 0 && !e.rec.AccessToken.IsZero() {
		s.scheduleLocked(e, jobSinks, now)
	}
}

// failedLocked handles a failed refresh.
func (s *Scheduler) failedLocked(e *entry, j job, res result, now time.Time) {
	var se *storageError
	fields := []zap.Field{zap.String("error_class", string(grants.ClassOf(res.err))), zap.Error(res.err)}
	if errors.As(res.err, &se) {
		fields[0] = zap.String("error_class", "storage")
	}
	e.rec = res.rec
	if res.rec.Intent != nil {
		e.unknown = true // no answer arrived: the provider may have rotated
	}
	if grants.IsPermanent(res.err) && se == nil {
		e.status = state.StatusNeedsReauth
		e.next = time.Time{}
		e.seq[jobRefresh]++
		s.recheckLaterLocked(e, now) // a shared store may receive a new token (recheck.go)
		msg := "refresh failed permanently; credential needs re-authorization (run tokend authorize or tokend import); the last good access token stays in the sinks until it expires"
		if j.unknown {
			msg = "refresh failed permanently after an interrupted refresh whose outcome was unknown: the provider most likely rotated the refresh token and the answer never reached disk; credential needs re-authorization"
		}
		e.log.Error(msg, append(fields, s.recFields(e)...)...)
		return
	}
	e.status = state.StatusBackoff
	e.attempt++
	var retryAfter time.Duration
	var ge *grants.Error
	if errors.As(res.err, &ge) {
		retryAfter = ge.RetryAfter
	}
	d, pastExpiry := s.retryDelayLocked(e, se != nil, retryAfter)
	s.scheduleLocked(e, jobRefresh, now.Add(d))
	fields = append(fields, zap.Int("attempt", e.attempt), zap.Duration("retry_in", d))
	if retryAfter > 0 {
		fields = append(fields, zap.Duration("retry_after", retryAfter))
	}
	if pastExpiry {
		e.log.Error("refresh failed; the next attempt is after the access token expires", append(fields, s.recFields(e)...)...)
		return
	}
	e.log.Warn("refresh failed; backing off", append(fields, s.recFields(e)...)...)
}

// maxStorageRetry caps the wait between retries of a refresh that failed on
// the state store (a sealed or unreachable Vault, a store being re-created)
// while the credential's access token has expired or expires before the
// normal backoff would retry: the store's recovery is then what the sinks
// wait for (issue 16 item 7: with the general backoff, 55.7 s after unseal).
const maxStorageRetry = 5 * time.Second

// retryDelayLocked returns the backoff before e's next refresh attempt and
// whether that attempt comes after the access token expires. The token's
// remaining life is measured on the scheduler's clock (clock.go), so a step
// of the wall clock neither stretches nor shrinks it. A storage failure with
// no access token, or one that would otherwise retry past expiry, backs off
// at most maxStorageRetry (never below Backoff.Min).
func (s *Scheduler) retryDelayLocked(e *entry, storage bool, retryAfter time.Duration) (time.Duration, bool) {
	_, now := s.clockLocked()
	exp := s.expiryLocked(e)
	jitter := s.opts.Rand()
	d, pastExpiry := s.opts.Backoff.Delay(e.attempt, jitter, retryAfter, now, exp)
	if storage && (pastExpiry || e.rec.AccessToken.IsZero()) {
		b := s.opts.Backoff
		b.Max = min(b.Max, max(maxStorageRetry, b.Min))
		d, pastExpiry = b.Delay(e.attempt, jitter, retryAfter, now, exp)
	}
	return d, pastExpiry
}

// sinkResultsLocked records sink outcomes and plans a retry for failed ones.
func (s *Scheduler) sinkResultsLocked(e *entry, j job, res result, now time.Time) {
	var idx []int
	switch {
	case j.kind == jobSinks:
		idx = j.behind
	case res.err == nil && !res.adopted:
		idx = allSinks(len(e.sinks))
	default:
		return
	}
	if res.rec.AccessToken.IsZero() {
		return
	}
	failed := 0
	for _, i := range idx {
		ss := &e.sinks[i]
		ss.lastAt = now
		if err := res.sinkErrs[i]; err != nil {
			failed++
			e.sinkFailedLocked(ss, err, now) // rate-limited log (sinkfail.go)
			continue
		}
		e.sinkWrittenLocked(ss, res.rec.Generation, res.rec.ExpiresAt, now)
	}
	if failed == 0 {
		e.sinkTry = 0
		return
	}
	e.sinkTry++
	d, _ := s.opts.Backoff.Delay(e.sinkTry, s.opts.Rand(), 0, now, time.Time{})
	s.scheduleLocked(e, jobSinks, now.Add(d))
}

// errorInfo turns an error into the safe record kept in state.
func errorInfo(err error, afterUnknown bool, now time.Time) *state.ErrorInfo {
	info := &state.ErrorInfo{Class: string(grants.ClassOf(err)), Description: err.Error(), At: now}
	var ge *grants.Error
	if errors.As(err, &ge) {
		info.Code, info.Description = ge.Code, ge.Description
		switch {
		case info.Description != "":
		case ge.Err != nil: // the cause alone: the code and the credential are said elsewhere (issue 14 item 6)
			info.Description = ge.Err.Error()
		case ge.Status != 0:
			info.Description = fmt.Sprintf("HTTP %d", ge.Status)
		}
	}
	var se *storageError
	if errors.As(err, &se) {
		info.Class = "storage"
	}
	if afterUnknown {
		info.Class = "outcome_unknown"
	}
	return info
}

func errorFields(ei *state.ErrorInfo) []zap.Field {
	if ei == nil {
		return nil
	}
	return []zap.Field{zap.String("error_class", ei.Class), zap.String("error_code", ei.Code), zap.String("error", ei.Description)}
}

// recFields are the fields of every state-change log line. Unknown times
// are left out (no 0001-01-01); a guessed expiry says so. Called with s.mu
// held: the token's fingerprint is the entry's cached one (the status
// snapshot that follows every job needs it too). The slice has room for
// the few fields a caller appends (took, planned_at, late, ...).
func (s *Scheduler) recFields(e *entry) []zap.Field {
	fields := make([]zap.Field, 0, 12)
	fields = append(fields,
		zap.String("status", string(e.status)),
		timeField("expires_at", e.rec.ExpiresAt),
		timeField("next_refresh", e.next),
		zap.Uint64("generation", e.rec.Generation),
		zap.String("token_fp", e.fingerprintLocked()),
	)
	if e.guessed && !e.rec.ExpiresAt.IsZero() {
		fields = append(fields, zap.Bool("expires_at_guessed", true))
	}
	if !e.rec.RefreshTokenExpiresAt.IsZero() {
		fields = append(fields, zap.Time("refresh_token_expires_at", e.rec.RefreshTokenExpiresAt))
	}
	return fields
}

// expiryGuessed is grants.Token.ExpirySource when the provider gave no
// expiry and default_lifetime set it.
const expiryGuessed = "default"

// timeField is zap.Time, or no field at all for the zero time (unknown).
func timeField(key string, t time.Time) zap.Field {
	if t.IsZero() {
		return zap.Skip()
	}
	return zap.Time(key, t)
}
