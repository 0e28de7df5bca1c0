package vaultstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/state/vaultstore"
	"github.com/tokend/tokend/internal/vaulttest"
)

func benchOpen(b *testing.B, srv *vaulttest.Server) *vaultstore.Store {
	b.Helper()
	st, err := vaultstore.Open(context.Background(), vaultstore.Options{Client: srv.TokendClient(srv.RootToken), Mount: "secret",
		Prefix: "tokend/state", Owner: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// benchRecord is a typical record: tokens of a few hundred bytes, the
// timestamps a refresh sets, one kept response field.
func benchRecord(gen uint64) state.Record {
	now := time.Now().UTC()
	tok := func(c byte) secret.Secret {
		b := make([]byte, 400)
		for i := range b {
			b[i] = c + byte(i%26)
		}
		return secret.New(string(b))
	}
	return state.Record{Credential: "api", RefreshToken: tok('a'), AccessToken: tok('A'), TokenType: "Bearer", Scope: "read write",
		ExpiresAt: now.Add(time.Hour), IssuedAt: now, LastSuccess: now, Generation: gen, Status: state.StatusOK,
		Extra: map[string]secret.Secret{"id_token": tok('a')}}
}

// BenchmarkSave: one check-and-set Save of a record to the real Vault dev
// server (the intent and the result of every rotation).
func BenchmarkSave(b *testing.B) {
	srv := vaulttest.Start(b)
	st := benchOpen(b, srv)
	ctx := context.Background()
	gen := uint64(0)
	b.ReportAllocs()
	for b.Loop() {
		gen++
		if err := st.Save(ctx, benchRecord(gen)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoad: one Load of a record from Vault (start-up, re-checks).
func BenchmarkLoad(b *testing.B) {
	srv := vaulttest.Start(b)
	st := benchOpen(b, srv)
	ctx := context.Background()
	if err := st.Save(ctx, benchRecord(1)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.Load(ctx, "api"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRotation: the state store's part of one rotation by the replica
// that claimed last, as the scheduler runs it: hold the claim, load
// (re-check), save the intent, save the result, release.
func BenchmarkRotation(b *testing.B) {
	srv := vaulttest.Start(b)
	st := benchOpen(b, srv)
	ctx := context.Background()
	gen := uint64(0)
	b.ReportAllocs()
	for b.Loop() {
		held, release, err := st.HoldClaim(ctx, "api", time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		cur, err := st.Load(held, "api")
		if err != nil && !errors.Is(err, state.ErrNotFound) {
			b.Fatal(err)
		}
		if cur.Generation != gen {
			b.Fatalf("loaded generation %d, want %d", cur.Generation, gen)
		}
		intent := benchRecord(gen)
		intent.Intent = &state.Intent{Generation: gen, StartedAt: time.Now()}
		gen++
		if err := st.Save(held, intent); err != nil {
			b.Fatal(err)
		}
		if err := st.Save(held, benchRecord(gen)); err != nil {
			b.Fatal(err)
		}
		release()
	}
}
