package vaultstore

import (
	"context"
	"fmt"
	"time"

	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/vaultclient"
)

// releaseTimeout bounds the release write, which runs even after ctx ended.
const releaseTimeout = 10 * time.Second

// Claim takes the credential's refresh claim for ttl (scheduler.Claimer).
// The claim key holds owner and expires_at and is written with
// check-and-set, so of two replicas racing for it exactly one wins. A live
// claim of another owner returns an error wrapping state.ErrClaimed; an
// expired one is taken over. release clears the claim if this replica still
// holds it; it is safe to call after expiry and more than once.
func (s *Store) Claim(ctx context.Context, name string, ttl time.Duration) (func(), error) {
	key := s.claimKey(name)
	cur, err := s.o.Client.KVGet(ctx, s.o.Mount, key)
	if err != nil {
		return nil, fmt.Errorf("reading claim of %q at vault %s: %w", name, s.claimAt(name), err)
	}
	now := s.o.Now()
	if owner, _ := cur.Data["owner"].(string); owner != "" && owner != s.o.Owner {
		exp, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(cur.Data["expires_at"]))
		if exp.After(now) {
			return nil, fmt.Errorf("credential %q is claimed by %s until %s: %w", name, owner, exp.Format(time.RFC3339), state.ErrClaimed)
		}
	}
	claim := map[string]any{"owner": s.o.Owner, "expires_at": now.Add(ttl).UTC().Format(time.RFC3339Nano)}
	v, err := s.o.Client.KVPut(ctx, s.o.Mount, key, claim, cur.Version)
	if vaultclient.IsCASMismatch(err) {
		return nil, fmt.Errorf("credential %q was claimed by another replica meanwhile: %w", name, state.ErrClaimed)
	}
	if err != nil {
		return nil, fmt.Errorf("writing claim of %q at vault %s: %w", name, s.claimAt(name), err)
	}
	released := false
	release := func() {
		if released {
			return
		}
		released = true
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		// cas = our version: if the claim expired and was taken over, the
		// write fails and the new holder keeps it.
		_, _ = s.o.Client.KVPut(rctx, s.o.Mount, key, map[string]any{"owner": "", "expires_at": ""}, v)
	}
	return release, nil
}
