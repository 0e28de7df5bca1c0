package vault_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	vaultsink "github.com/tokend/tokend/internal/sinks/vault"
	"github.com/tokend/tokend/internal/vaultclient"
	"github.com/tokend/tokend/internal/vaulttest"
)

// countingClient is tokend's Vault client for srv, talking through a
// proxy that records every request (the login's already taken).
func countingClient(t *testing.T, srv *vaulttest.Server, token string) (*vaultclient.Client, *vaulttest.Counter) {
	t.Helper()
	addr, cnt := srv.CountingProxy()
	c := srv.TokendClientAt(addr, token)
	cnt.Take()
	return c, cnt
}

// TestRotationCostsTwoVaultRequests: the first write reads the metadata
// (the sink knows nothing yet); every later rotation writes with the
// version the sink wrote last as its cas and sets the metadata: 2
// requests, not 3.
func TestRotationCostsTwoVaultRequests(t *testing.T) {
	srv := vaulttest.Start(t)
	c, cnt := countingClient(t, srv, srv.RootToken)
	ctx := context.Background()
	s, err := vaultsink.New(ctx, vaultsink.Options{Client: c, Credential: "api", Mount: "secret", Path: "tokend/api", KVVersion: 2, Fields: fields()})
	if err != nil {
		t.Fatal(err)
	}
	cnt.Take()
	exp := time.Now().Add(time.Hour)
	if err := s.Write(ctx, tok(1, "at-1", exp)); err != nil {
		t.Fatal(err)
	}
	if got := cnt.Take(); len(got) != 3 || got[0] != "GET /v1/secret/metadata/tokend/api" {
		t.Fatalf("first write: %v", got)
	}
	const rotations = 20
	for g := uint64(2); g < 2+rotations; g++ {
		if err := s.Write(ctx, tok(g, fmt.Sprintf("at-%d", g), exp)); err != nil {
			t.Fatal(err)
		}
	}
	got := cnt.Take()
	for _, r := range got {
		if strings.HasPrefix(r, "GET ") {
			t.Fatalf("a rotation read from Vault: %v", got)
		}
	}
	if len(got) != 2*rotations {
		t.Fatalf("%d requests for %d rotations, want %d: %v", len(got), rotations, 2*rotations, got)
	}
	t.Logf("Vault requests per rotation: %.2f (was 3)", float64(len(got))/rotations)
	_, custom, _ := c.KVMetadata(ctx, "secret", "tokend/api")
	if d := read(t, srv, "secret/data/tokend/api"); d["access_token"] != fmt.Sprintf("at-%d", 1+rotations) || custom["generation"] != fmt.Sprint(1+rotations) {
		t.Fatalf("vault holds %v (generation %s)", d["access_token"], custom["generation"])
	}
}

// TestCachedVersionNeverLetsAStaleWriterWin: a sink whose remembered
// version is outdated (another replica wrote a newer generation) fails its
// check-and-set, reads the metadata and skips its older token.
func TestCachedVersionNeverLetsAStaleWriterWin(t *testing.T) {
	srv := vaulttest.Start(t)
	ctx := context.Background()
	opts := vaultsink.Options{Credential: "api", Mount: "secret", Path: "tokend/api", KVVersion: 2, Fields: fields()}
	opts.Client = srv.TokendClient(srv.RootToken)
	a, err := vaultsink.New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := vaultsink.New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	for _, w := range []struct {
		s   *vaultsink.Sink
		gen uint64
	}{{a, 1}, {b, 3}, {a, 2}} {
		if err := w.s.Write(ctx, tok(w.gen, fmt.Sprintf("at-%d", w.gen), exp)); err != nil {
			t.Fatal(err)
		}
	}
	if d := read(t, srv, "secret/data/tokend/api"); d["access_token"] != "at-3" {
		t.Fatalf("a stale writer overwrote the newer token: vault holds %v", d["access_token"])
	}
	// And a newer generation from the outdated sink still lands.
	if err := a.Write(ctx, tok(4, "at-4", exp)); err != nil {
		t.Fatal(err)
	}
	if d := read(t, srv, "secret/data/tokend/api"); d["access_token"] != "at-4" {
		t.Fatalf("newer write lost: vault holds %v", d["access_token"])
	}
}

// TestPrepareChecksEverySinkInAFewRequests: building N sinks after Prepare
// costs one request per distinct mount and one per 2,000 paths, not 2N;
// the checks keep their verdicts (a missing mount, a denied path).
func TestPrepareChecksEverySinkInAFewRequests(t *testing.T) {
	srv := vaulttest.Start(t)
	srv.MountKV("kv1", 1)
	srv.Policy("some", `path "secret/data/ok/*" { capabilities = ["create", "update"] }
path "secret/metadata/ok/*" { capabilities = ["read", "create", "update"] }
path "kv1/*" { capabilities = ["create", "update", "read"] }
path "sys/internal/ui/mounts/*" { capabilities = ["read"] }`)
	c, cnt := countingClient(t, srv, srv.Token([]string{"some"}, nil))
	var cfgs []*vaultsink.Config
	const n = 500
	for i := range n {
		cfgs = append(cfgs, &vaultsink.Config{Path: fmt.Sprintf("ok/c%d", i)})
	}
	cfgs = append(cfgs, &vaultsink.Config{Path: "v1key", Mount: "kv1", KVVersion: 1},
		&vaultsink.Config{Path: "denied/x"}, &vaultsink.Config{Path: "x", Mount: "nosuchmount"})
	for _, cf := range cfgs {
		cf.Defaults()
	}
	// A mount the token may not look at is not an answer Prepare keeps: it
	// says so, and that sink's Build asks again and reports it.
	if err := vaultsink.Prepare(cfgs, c); err == nil || !strings.Contains(err.Error(), "nosuchmount") {
		t.Fatalf("Prepare: %v", err)
	}
	prep := cnt.Take()
	var built int
	var errs []string
	for i, cf := range cfgs {
		_, err := cf.Build(c, fmt.Sprintf("c%d", i))
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		built++
	}
	if extra := cnt.Take(); len(extra) != 1 || extra[0] != "GET /v1/sys/internal/ui/mounts/nosuchmount" {
		t.Fatalf("builds after Prepare asked Vault: %v", extra)
	}
	// 3 mounts (secret, kv1, nosuchmount) + 1 capabilities request.
	if len(prep) != 4 {
		t.Fatalf("Prepare made %d requests, want 4: %v", len(prep), prep)
	}
	if built != n+1 || len(errs) != 2 || !strings.Contains(errs[0], "policy allows none") || !strings.Contains(errs[1], "nosuchmount") {
		t.Fatalf("built %d, errors %q", built, errs)
	}
	t.Logf("start-up checks of %d Vault sinks: %d requests (was %d)", len(cfgs), len(prep), 2*len(cfgs))
}
