package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tokend/tokend/internal/state"
)

// Holder is an optional power of a Claimer, found by type assertion.
// HoldClaim takes the named credential's claim like Claim and keeps it
// renewed (a heartbeat) until release, so a refresh may outlast ttl. The
// returned context ends as soon as the claim can no longer be shown to be
// held; the refresh spends a refresh token only under it. Errors are as
// Claim's (state.ErrClaimed when another live replica holds the claim).
type Holder interface {
	HoldClaim(ctx context.Context, name string, ttl time.Duration) (held context.Context, release func(), err error)
}

// claim takes name's claim when the store is shared (a Claimer): with a
// Holder the claim is heartbeat-renewed and held is its context; with a
// plain Claimer held is ctx. With an unshared store it returns ctx and a
// no-op release.
func (s *Scheduler) claim(ctx context.Context, name string) (held context.Context, release func(), err error) {
	if h, ok := s.store.(Holder); ok {
		return h.HoldClaim(ctx, name, s.opts.ClaimTTL)
	}
	if cl, ok := s.store.(Claimer); ok {
		release, err := cl.Claim(ctx, name, s.opts.ClaimTTL)
		return ctx, release, err
	}
	return ctx, func() {}, nil
}

// adoptDespiteClaim runs when another replica holds j's claim: a record it
// (or a replica that died holding the claim) already committed is adopted at
// once if its generation is newer than the one this replica knows, instead
// of waiting for the claim to be released or to expire. Otherwise the loop
// re-checks shortly (result.claimed).
func (s *Scheduler) adoptDespiteClaim(ctx context.Context, j job) result {
	cur, err := s.store.Load(ctx, j.cred.Name)
	if err != nil || cur.Generation <= j.rec.Generation || cur.AccessToken.IsZero() ||
		(cur.Status != state.StatusOK && cur.Status != state.StatusRefreshing) {
		return result{rec: j.rec, claimed: true}
	}
	// The holder may be refreshing it again (intent, status refreshing): what
	// this replica adopts is the committed token, not the holder's attempt.
	cur.Intent, cur.Status = nil, state.StatusOK
	return result{rec: cur, adopted: true}
}

// commitAfterLoss commits an answered refresh whose claim was lost while the
// token endpoint answered (no renewal could be written in time). It commits
// only with the record's plain check-and-set against this replica's intent:
// if a replica that took over has written the record since, that replica's
// record stands and this answer is dropped (never written over it); if the
// store could not be reached, the answer is kept in memory like any unsaved
// one.
func (s *Scheduler) commitAfterLoss(ctx context.Context, j job, rec, next state.Record, dur time.Duration) result {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.SaveTimeout)
	defer cancel()
	err := s.store.Save(sctx, next)
	switch {
	case err == nil:
		return result{rec: next, spent: true, duration: dur, sinkErrs: s.writeSinks(context.WithoutCancel(ctx), j.cred, next, allSinks(len(j.cred.Sinks)))}
	case errors.Is(err, state.ErrConflict):
		return result{rec: rec, spent: true, duration: dur, err: &storageError{fmt.Errorf(
			"refreshing %q: the refresh claim was lost and another replica has written the record since; this answer is not committed: %w", j.cred.Name, err)}}
	default:
		return result{rec: rec, pending: &next, spent: true, duration: dur,
			err: &storageError{fmt.Errorf("saving refreshed state for %q after the refresh claim was lost: %w", j.cred.Name, err)}}
	}
}
