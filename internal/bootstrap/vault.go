package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/state/vaultstore"
	"github.com/tokend/tokend/internal/vaultclient"
)

// DefaultClaimWait is how long Store waits for a replica that holds a
// credential's refresh claim (it is refreshing) before giving up: a refresh
// is bounded by the token request timeout, and a dead replica's claim
// expires after state.claim_ttl.
const DefaultClaimWait = time.Minute

// claimRetry is the pause between attempts to take a held claim.
const claimRetry = 250 * time.Millisecond

// OpenVault logs in to Vault with cfg's [vault] table and opens the vault
// state store as a replica opens it (vaultstore.Open checks the mount and
// the token's policy), under a claim owner of its own
// ("tokend-bootstrap:HOST:PID"), so it never takes over a replica's claim.
// The client's token is not renewed: the caller is a short-lived command.
func OpenVault(ctx context.Context, cfg *config.Config) (*vaultstore.Store, error) {
	if cfg.Vault == nil {
		return nil, errors.New("state backend \"vault\" needs a [vault] table")
	}
	vc, err := vaultclient.New(ctx, vaultclient.Config(*cfg.Vault), nil)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	owner := fmt.Sprintf("tokend-bootstrap:%s:%d", host, os.Getpid())
	return vaultstore.Open(ctx, vaultstore.Options{Client: vc, Mount: cfg.State.Mount, Prefix: cfg.State.Prefix, Owner: owner})
}

// storeVault writes tok into the shared vault state store the way a
// replica's scheduler.Import does, with no daemon involved: it takes the
// credential's refresh claim as a replica does before a refresh (waiting up
// to wait while another replica holds it, so no refresh is in flight while
// the record changes), loads the record, and saves Record.Imported — the
// next generation — with check-and-set against the version it read. If
// another writer changes the record between that read and the write, the
// save fails with state.ErrConflict and nothing is overwritten: the
// operator runs the command again. Running replicas adopt the newer
// generation at their next re-check of the store.
func storeVault(ctx context.Context, st *vaultstore.Store, name string, tok scheduler.ImportedToken, now func() time.Time,
	ttl, wait time.Duration) error {
	held, release, err := holdClaim(ctx, st, name, ttl, wait)
	if err != nil {
		return err
	}
	defer release()
	prev, err := st.Load(held, name)
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		return err
	}
	rec := prev.Imported(name, tok, now())
	if err := st.Save(held, rec); err != nil {
		if errors.Is(err, state.ErrConflict) {
			return fmt.Errorf("another writer changed the record of %q since it was read; nothing was stored, run the command again: %w", name, err)
		}
		if context.Cause(held) != nil && ctx.Err() == nil {
			return fmt.Errorf("storing %q: %w", name, context.Cause(held))
		}
		return err
	}
	return nil
}

// holdClaim takes name's claim, retrying while another replica holds it
// for up to wait.
func holdClaim(ctx context.Context, st *vaultstore.Store, name string, ttl, wait time.Duration) (context.Context, func(), error) {
	deadline := time.Now().Add(wait)
	for {
		held, release, err := st.HoldClaim(ctx, name, ttl)
		if err == nil {
			return held, release, nil
		}
		if !errors.Is(err, state.ErrClaimed) {
			return nil, nil, fmt.Errorf("claiming %q: %w", name, err)
		}
		if !time.Now().Add(claimRetry).Before(deadline) {
			return nil, nil, fmt.Errorf("a running replica kept the refresh claim for %s; try again: %w", wait, err)
		}
		t := time.NewTimer(claimRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, ctx.Err()
		case <-t.C:
		}
	}
}
