package vaultstore_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/vaulttest"
)

// rotateOnce runs the store's part of one rotation as the scheduler does
// (job.go): hold the claim, load, save the intent, save the result,
// release. It returns the loaded record.
func rotateOnce(t *testing.T, st interface {
	HoldClaim(context.Context, string, time.Duration) (context.Context, func(), error)
	Load(context.Context, string) (state.Record, error)
	Save(context.Context, state.Record) error
}, next state.Record) state.Record {
	t.Helper()
	held, release, err := st.HoldClaim(context.Background(), "api", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	cur, err := st.Load(held, "api")
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		t.Fatal(err)
	}
	intent := cur
	intent.Credential, intent.Intent = "api", &state.Intent{Generation: cur.Generation, StartedAt: time.Now()}
	if err := st.Save(held, intent); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(held, next); err != nil {
		t.Fatal(err)
	}
	return cur
}

func record(gen uint64) state.Record {
	exp := time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.UTC)
	return state.Record{Credential: "api", RefreshToken: secret.New("rt-" + string(rune('a'+gen))), AccessToken: secret.New("at"),
		TokenType: "Bearer", Scope: "read write", ExpiresAt: exp, IssuedAt: exp.Add(-time.Hour), Generation: gen,
		Status: state.StatusOK, LastSuccess: exp.Add(-time.Hour), Extra: map[string]secret.Secret{"id_token": secret.New("idt")}}
}

// TestLastClaimerSkipsTheReads: the replica that claimed last takes the
// claim with one blind write and answers the re-check's Load from what it
// wrote — the same record a read gives — so a rotation costs 4 requests,
// not 6.
func TestLastClaimerSkipsTheReads(t *testing.T) {
	srv := vaulttest.Start(t)
	addr, cnt := srv.CountingProxy()
	a := open(t, srv.TokendClientAt(addr, srv.RootToken), "replica-a", nil)
	rotateOnce(t, a, record(1))
	rotateOnce(t, a, record(2)) // the first take knew no claim version: reads
	cnt.Take()
	cur := rotateOnce(t, a, record(3))
	got := cnt.Take()
	if len(got) != 4 || strings.Join(got, " ") != "PUT /v1/secret/data/tokend/state/claims/api PUT /v1/secret/data/tokend/state/api "+
		"PUT /v1/secret/data/tokend/state/api PUT /v1/secret/data/tokend/state/claims/api" {
		t.Fatalf("a rotation by the last claimer: %v", got)
	}
	fresh, err := open(t, srv.TokendClient(srv.RootToken), "reader", nil).Load(context.Background(), "api")
	if err != nil {
		t.Fatal(err)
	}
	want := record(2)
	if !reflect.DeepEqual(cur, want) {
		t.Fatalf("the remembered record differs from the one written:\n got %+v\nwant %+v", cur, want)
	}
	if !reflect.DeepEqual(fresh, record(3)) {
		t.Fatalf("a read of the record differs from the one written:\n got %+v\nwant %+v", fresh, record(3))
	}
}

// TestStaleRememberedRecordNeverSpends: a writer that does not claim (a
// commit after its claim was lost, an answered refresh saved later) changes
// the record behind the last claimer's back. Its blind take still succeeds
// and its Load answers the old record — but the intent saved from it fails
// check-and-set, so the old refresh token is never spent, and the next read
// sees the other writer's record.
func TestStaleRememberedRecordNeverSpends(t *testing.T) {
	srv := vaulttest.Start(t)
	addr, cnt := srv.CountingProxy()
	ctx := context.Background()
	a := open(t, srv.TokendClientAt(addr, srv.RootToken), "replica-a", nil)
	b := open(t, srv.TokendClient(srv.RootToken), "replica-b", nil)
	rotateOnce(t, a, record(1))
	rotateOnce(t, a, record(2))
	if _, err := b.Load(ctx, "api"); err != nil {
		t.Fatal(err)
	}
	if err := b.Save(ctx, record(3)); err != nil { // no claim taken
		t.Fatal(err)
	}
	cnt.Take()
	held, release, err := a.HoldClaim(ctx, "api", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	stale, err := a.Load(held, "api")
	if err != nil || stale.Generation != 2 {
		t.Fatalf("load after the blind take: generation %d, %v", stale.Generation, err)
	}
	if got := cnt.Take(); len(got) != 1 || !strings.HasPrefix(got[0], "PUT ") {
		t.Fatalf("blind take and remembered load: %v", got)
	}
	intent := stale
	intent.Intent = &state.Intent{Generation: stale.Generation, StartedAt: time.Now()}
	if err := a.Save(held, intent); !errors.Is(err, state.ErrConflict) {
		t.Fatalf("an intent saved from a stale record: %v", err)
	}
	cur, err := a.Load(held, "api")
	if err != nil || cur.Generation != 3 || !cur.RefreshToken.Equal(record(3).RefreshToken) || cur.Intent != nil {
		t.Fatalf("after the conflict: %+v %v", cur, err)
	}
}
