package vaultstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/state/vaultstore"
	"github.com/tokend/tokend/internal/testkit"
	"github.com/tokend/tokend/internal/vaulttest"
)

// TestHoldClaimHeartbeat: a held claim outlives its ttl while the holder
// works (the heartbeat renews it), and is free again at release.
func TestHoldClaimHeartbeat(t *testing.T) {
	srv := vaulttest.Start(t)
	c := srv.TokendClient(srv.RootToken)
	ctx := context.Background()
	a, b := open(t, c, "replica-a", nil), open(t, c, "replica-b", nil)
	held, release, err := a.HoldClaim(ctx, "api", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second) // longer than the ttl
	if _, err := b.Claim(ctx, "api", time.Minute); !errors.Is(err, state.ErrClaimed) {
		t.Fatalf("claim taken while its holder was renewing it: %v", err)
	}
	if held.Err() != nil {
		t.Fatalf("held context ended while the claim was renewed: %v", context.Cause(held))
	}
	release()
	release() // idempotent
	if held.Err() == nil || errors.Is(context.Cause(held), vaultstore.ErrClaimLost) {
		t.Fatalf("after release: %v", context.Cause(held))
	}
	relB, err := b.Claim(ctx, "api", time.Minute)
	if err != nil {
		t.Fatalf("claim after release: %v", err)
	}
	relB()
}

// TestHoldClaimLost: the held context ends with ErrClaimLost when the claim
// is rewritten by someone else, or when no renewal landed for ttl minus the
// margin; a release after the loss leaves the new holder's claim alone.
func TestHoldClaimLost(t *testing.T) {
	srv := vaulttest.Start(t)
	c := srv.TokendClient(srv.RootToken)
	ctx := context.Background()
	clock := testkit.NewClock(time.Now())
	a, b := open(t, c, "replica-a", clock.Now), open(t, c, "replica-b", clock.Now)

	// Rewritten: another writer took the claim (here without asking).
	live := open(t, c, "replica-a", nil)
	held, release, err := live.HoldClaim(ctx, "api", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	srv.Write("secret/data/tokend/state/claims/api", map[string]any{"data": map[string]any{
		"owner": "intruder", "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano)}})
	testkit.WaitUntil(t, "the held context to end", 5*time.Second, func() bool { return held.Err() != nil })
	if !errors.Is(context.Cause(held), vaultstore.ErrClaimLost) {
		t.Fatalf("cause: %v", context.Cause(held))
	}
	release()
	if _, err := b.Claim(ctx, "api", time.Minute); !errors.Is(err, state.ErrClaimed) || !strings.Contains(err.Error(), "intruder") {
		t.Fatalf("a release after losing the claim cleared the new holder's: %v", err)
	}

	// Silent: no renewal can be shown for ttl minus the margin.
	held, release, err = a.HoldClaim(ctx, "quiet", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	clock.Add(2500 * time.Millisecond) // past ttl-ttl/5 = 2.4 s; before any renewal was due by this clock
	testkit.WaitUntil(t, "the held context to end", 5*time.Second, func() bool { return held.Err() != nil })
	if !errors.Is(context.Cause(held), vaultstore.ErrClaimLost) {
		t.Fatalf("cause: %v", context.Cause(held))
	}
}

// TestOwnClaimReclaimedAtOnce: a replica restarted with the same owner id
// takes back the live claim its previous run left, while another owner must
// wait for it to expire.
func TestOwnClaimReclaimedAtOnce(t *testing.T) {
	srv := vaulttest.Start(t)
	c := srv.TokendClient(srv.RootToken)
	ctx := context.Background()
	dead := open(t, c, "host:/var/lib/tokend", nil)
	if _, _, err := dead.HoldClaim(context.Background(), "api", time.Minute); err != nil {
		t.Fatal(err)
	} // never released: the process "died"
	if _, err := open(t, c, "other-host:/var/lib/tokend", nil).Claim(ctx, "api", time.Minute); !errors.Is(err, state.ErrClaimed) {
		t.Fatalf("another owner took a live claim: %v", err)
	}
	restarted := open(t, c, "host:/var/lib/tokend", nil)
	rel, err := restarted.Claim(ctx, "api", time.Minute)
	if err != nil {
		t.Fatalf("the restarted replica could not take back its own claim: %v", err)
	}
	rel()
}
