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

// TestRotationCostsOneVaultRequest: the first write reads the key (the
// sink knows nothing yet); every later rotation writes with the version the
// sink wrote last as its cas, the generation in the data: 1 request (3
// before issue 17, then 2 with the metadata write).
func TestRotationCostsOneVaultRequest(t *testing.T) {
	srv := vaulttest.Start(t)
	c, cnt := countingClient(t, srv, srv.RootToken)
	ctx := context.Background()
	s := apiSink(t, c)
	cnt.Take()
	exp := time.Now().Add(time.Hour)
	if err := s.Write(ctx, tok(1, "at-1", exp)); err != nil {
		t.Fatal(err)
	}
	if got := cnt.Take(); len(got) != 2 || got[0] != "GET /v1/secret/data/tokend/api" {
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
		if r != "PUT /v1/secret/data/tokend/api" {
			t.Fatalf("a rotation made another request than its write: %v", got)
		}
	}
	if len(got) != rotations {
		t.Fatalf("%d requests for %d rotations, want %d: %v", len(got), rotations, rotations, got)
	}
	t.Logf("Vault requests per rotation: %.2f (was 3, then 2)", float64(len(got))/rotations)
	if d := read(t, srv, "secret/data/tokend/api"); d["access_token"] != fmt.Sprintf("at-%d", 1+rotations) || fmt.Sprint(d["generation"]) != fmt.Sprint(1+rotations) {
		t.Fatalf("vault holds %v (generation %v)", d["access_token"], d["generation"])
	}
}

// TestMetadataModeWithoutDataRead: a policy that may write but not read
// the data path (the policy older tokend needed: data create/update,
// metadata read/update) still works, with the generation kept in
// custom_metadata: 2 requests per rotation, and a stale write is skipped.
func TestMetadataModeWithoutDataRead(t *testing.T) {
	srv := vaulttest.Start(t)
	srv.Policy("writeonly", `path "secret/data/tokend/*" { capabilities = ["create", "update"] }
path "secret/metadata/tokend/*" { capabilities = ["read", "update"] }`)
	c, cnt := countingClient(t, srv, srv.Token([]string{"writeonly"}, nil))
	ctx := context.Background()
	s := apiSink(t, c)
	exp := time.Now().Add(time.Hour)
	if err := s.Write(ctx, tok(1, "at-1", exp)); err != nil {
		t.Fatal(err)
	}
	cnt.Take()
	for g := uint64(2); g < 12; g++ {
		if err := s.Write(ctx, tok(g, fmt.Sprintf("at-%d", g), exp)); err != nil {
			t.Fatal(err)
		}
	}
	if got := cnt.Take(); len(got) != 20 {
		t.Fatalf("%d requests for 10 rotations, want 20: %v", len(got), got)
	}
	_, custom, _ := c.KVMetadata(ctx, "secret", "tokend/api")
	if custom["generation"] != "11" || custom["credential"] != "api" {
		t.Fatalf("custom_metadata %v", custom)
	}
	// A second writer (another replica) with an older generation is skipped.
	b := apiSink(t, c)
	if err := b.Write(ctx, tok(5, "at-5", exp)); err != nil {
		t.Fatal(err)
	}
	if d := read(t, srv, "secret/data/tokend/api"); d["access_token"] != "at-11" {
		t.Fatalf("a stale write landed: %v", d["access_token"])
	}
}

// TestUpgradeFromMetadataGeneration: a key last written by a tokend that
// kept the generation in custom_metadata only (no generation field in the
// data) is judged by that metadata: an older token is not written over it.
func TestUpgradeFromMetadataGeneration(t *testing.T) {
	srv := vaulttest.Start(t)
	c := srv.TokendClient(srv.RootToken)
	ctx := context.Background()
	srv.Write("secret/data/tokend/api", map[string]any{"data": map[string]any{"access_token": "at-9-old-format", "expires_at": "2030-01-01T00:00:00Z"}})
	if err := c.KVSetCustomMetadata(ctx, "secret", "tokend/api", map[string]string{"credential": "api", "generation": "9"}); err != nil {
		t.Fatal(err)
	}
	s := apiSink(t, c)
	exp := time.Now().Add(time.Hour)
	if err := s.Write(ctx, tok(8, "at-8", exp)); err != nil {
		t.Fatal(err)
	}
	if d := read(t, srv, "secret/data/tokend/api"); d["access_token"] != "at-9-old-format" {
		t.Fatalf("an older generation replaced the stored one: %v", d["access_token"])
	}
	if err := s.Write(ctx, tok(10, "at-10", exp)); err != nil {
		t.Fatal(err)
	}
	if d := read(t, srv, "secret/data/tokend/api"); d["access_token"] != "at-10" || fmt.Sprint(d["generation"]) != "10" {
		t.Fatalf("the newer generation did not land: %v", d)
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
