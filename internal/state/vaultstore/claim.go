package vaultstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/vaultclient"
)

// releaseTimeout bounds the release write, which runs even after ctx ended.
const releaseTimeout = 10 * time.Second

// ErrClaimLost is the cause of a held claim's context when this replica can
// no longer show that it holds the claim (see HoldClaim).
var ErrClaimLost = errors.New("refresh claim lost")

// Claim takes the credential's refresh claim for ttl (scheduler.Claimer).
// The claim key holds owner and expires_at and is written with
// check-and-set, so of two replicas racing for it exactly one wins. A live
// claim of another owner returns an error wrapping state.ErrClaimed; an
// expired one, or one of this replica's own owner id (a claim left by this
// replica before a restart), is taken over. release clears the claim if
// this replica still holds it; it is safe to call after expiry and more than
// once.
func (s *Store) Claim(ctx context.Context, name string, ttl time.Duration) (func(), error) {
	v, err := s.take(ctx, name, ttl)
	if err != nil {
		return nil, err
	}
	released := false
	return func() {
		if !released {
			released = true
			s.released(name, s.clear(ctx, name, v))
		}
	}, nil
}

// HoldClaim takes the claim like Claim and keeps it while the caller works:
// a heartbeat renews it every ttl/3 with check-and-set against the version
// this replica last wrote. The returned context is ctx, cancelled with cause
// ErrClaimLost as soon as this replica can no longer show that it holds the
// claim — a renewal found the claim rewritten by someone else, or no renewal
// has succeeded for ttl minus a margin (ttl/5) for clock skew. release stops
// the heartbeat and clears the claim if still held; it is safe to call more
// than once.
//
// Why no refresh token is spent twice: another replica takes the claim only
// after expires_at has passed by its clock, and expires_at is always at least
// ttl after the start of this replica's last successful write. This replica's
// context ends margin before that by its own clock, and the scheduler spends
// a refresh token only under that context (intent save, token endpoint), so
// with clocks agreeing to within the margin the spend windows of two holders
// never overlap. A request already on the wire when the context ends has an
// unknown outcome, as after a crash, and its intent stays in the record. The
// record's own check-and-set is the second fence: the holder commits against
// the version of its intent, so a replica that took over and wrote its own
// intent makes that commit fail instead of being overwritten (job.go).
func (s *Store) HoldClaim(ctx context.Context, name string, ttl time.Duration) (context.Context, func(), error) {
	start := s.o.Now()
	v, err := s.take(ctx, name, ttl)
	if err != nil {
		return nil, nil, err
	}
	hctx, cancel := context.WithCancelCause(ctx)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // owned by the caller: release waits for it
		defer close(done)
		v = s.heartbeat(hctx, name, ttl, v, start, stop, cancel)
	}()
	released := false
	release := func() {
		if released {
			return
		}
		released = true
		close(stop)
		<-done
		cleared := 0
		if errors.Is(context.Cause(hctx), ErrClaimLost) {
			s.contend(name) // someone else has written it: read it next time
		} else {
			cleared = s.clear(ctx, name, v)
		}
		s.released(name, cleared)
		cancel(context.Canceled)
	}
	return hctx, release, nil
}

// heartbeat renews the claim until stop is closed or the claim is lost, and
// returns the claim's last version written by this replica.
func (s *Store) heartbeat(ctx context.Context, name string, ttl time.Duration, v int, held time.Time,
	stop <-chan struct{}, lost context.CancelCauseFunc) int {
	every, margin := ttl/3, ttl/5
	tick := time.NewTicker(every / 3) // retries a failed renewal well before the deadline
	defer tick.Stop()
	next := held.Add(every)
	for {
		select {
		case <-stop:
			return v
		case <-ctx.Done():
			return v
		case <-tick.C:
		}
		now := s.o.Now()
		if !now.Before(held.Add(ttl - margin)) {
			lost(ErrClaimLost) // no renewal for too long: another replica may take over soon
			return v
		}
		if now.Before(next) {
			continue
		}
		claim := map[string]any{"owner": s.o.Owner, "expires_at": now.Add(ttl).UTC().Format(time.RFC3339Nano)}
		wctx, cancel := context.WithTimeout(ctx, every)
		nv, err := s.o.Client.KVPut(wctx, s.o.Mount, s.claimKey(name), claim, v)
		cancel()
		switch {
		case vaultclient.IsCASMismatch(err):
			lost(ErrClaimLost) // rewritten by someone else: it is theirs now
			return v
		case err != nil: // Vault unreachable: retry on the next tick
		default:
			v, held, next = nv, now, now.Add(every)
			s.claimWritten(name, nv)
		}
	}
}

// take writes this replica's claim (see Claim) and returns its version.
// Unless contended, it first writes blind with cas = the claim version this
// Store last wrote: accepted only if the claim is still that write of ours
// — cleared by us or held by us, which the read would have let it take
// anyway. Otherwise, or on a mismatch, it reads the claim and decides. A
// take that finds the claim at this Store's own last write lets the next
// Load skip its read (known.go).
func (s *Store) take(ctx context.Context, name string, ttl time.Duration) (int, error) {
	key := s.claimKey(name)
	if cas := s.blindCAS(name); cas > 0 {
		v, err := s.o.Client.KVPut(ctx, s.o.Mount, key, s.claimData(ttl), cas)
		if err == nil {
			s.took(name, v, true)
			return v, nil
		}
		if !vaultclient.IsCASMismatch(err) {
			return 0, fmt.Errorf("writing claim of %q at vault %s: %w", name, s.claimAt(name), err)
		}
		s.contend(name) // another writer claimed since: read it
	}
	mine := s.lastClaim(name)
	cur, err := s.o.Client.KVGet(ctx, s.o.Mount, key)
	if err != nil {
		return 0, fmt.Errorf("reading claim of %q at vault %s: %w", name, s.claimAt(name), err)
	}
	now := s.o.Now()
	if owner, _ := cur.Data["owner"].(string); owner != "" && owner != s.o.Owner {
		exp, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(cur.Data["expires_at"]))
		if exp.After(now) {
			s.contend(name)
			return 0, fmt.Errorf("credential %q is claimed by %s until %s: %w", name, owner, exp.Format(time.RFC3339), state.ErrClaimed)
		}
	}
	v, err := s.o.Client.KVPut(ctx, s.o.Mount, key, s.claimData(ttl), cur.Version)
	if vaultclient.IsCASMismatch(err) {
		s.contend(name)
		return 0, fmt.Errorf("credential %q was claimed by another replica meanwhile: %w", name, state.ErrClaimed)
	}
	if err != nil {
		return 0, fmt.Errorf("writing claim of %q at vault %s: %w", name, s.claimAt(name), err)
	}
	s.took(name, v, mine > 0 && cur.Version == mine)
	return v, nil
}

// claimData is this replica's claim until now + ttl.
func (s *Store) claimData(ttl time.Duration) map[string]any {
	return map[string]any{"owner": s.o.Owner, "expires_at": s.o.Now().Add(ttl).UTC().Format(time.RFC3339Nano)}
}

// clear releases the claim written at version v. cas = v: if the claim
// expired and was taken over, the write fails and the new holder keeps it.
// It runs even after ctx ended, and returns the version it wrote (0: none,
// or the outcome is unknown).
func (s *Store) clear(ctx context.Context, name string, v int) int {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	nv, err := s.o.Client.KVPut(rctx, s.o.Mount, s.claimKey(name), map[string]any{"owner": "", "expires_at": ""}, v)
	if err != nil {
		return 0
	}
	return nv
}
