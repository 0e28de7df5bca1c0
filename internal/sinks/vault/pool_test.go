package vault_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	vaultsink "github.com/tokend/tokend/internal/sinks/vault"
	"github.com/tokend/tokend/internal/vaultclient"
	"github.com/tokend/tokend/internal/vaulttest"
)

// connCounter forwards TCP connections to a Vault server (plain or TLS:
// the bytes pass through) and counts the connections clients open.
type connCounter struct{ n atomic.Int64 }

// forward listens on loopback for srv and returns the address clients use
// (srv.Addr with the forwarder's port).
func forward(t *testing.T, srv *vaulttest.Server) (string, *connCounter) {
	t.Helper()
	u, err := url.Parse(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cc, target := &connCounter{}, u.Host
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		for _, c := range open {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			cc.n.Add(1)
			out, err := net.Dial("tcp", target)
			if err != nil {
				_ = in.Close()
				continue
			}
			mu.Lock()
			open = append(open, in, out)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(out, in); _ = out.Close() })
			wg.Go(func() { _, _ = io.Copy(in, out); _ = in.Close() })
		}
	})
	u.Host = l.Addr().String()
	return u.String(), cc
}

// client is tokend's Vault client for srv at addr, sized by opts.
func client(t *testing.T, srv *vaulttest.Server, addr string, opts ...vaultclient.Option) *vaultclient.Client {
	t.Helper()
	fn := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(fn, []byte(srv.RootToken), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := vaultclient.New(context.Background(), vaultclient.Config{Address: addr, CACert: srv.CACert, Auth: "token", TokenFile: fn}, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// burst writes generation gen to every sink at once and returns how many
// connections were opened meanwhile.
func burst(t *testing.T, cc *connCounter, ss []*vaultsink.Sink, gen uint64) int64 {
	t.Helper()
	before := cc.n.Load()
	exp := time.Now().Add(time.Hour)
	var wg sync.WaitGroup
	errs := make([]error, len(ss))
	for i, s := range ss {
		wg.Go(func() { errs[i] = s.Write(context.Background(), tok(gen, fmt.Sprintf("at-%d", gen), exp)) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return cc.n.Load() - before
}

func sinksFor(t *testing.T, c *vaultclient.Client, n int) []*vaultsink.Sink {
	t.Helper()
	ss := make([]*vaultsink.Sink, n)
	for i := range ss {
		s, err := vaultsink.New(context.Background(), vaultsink.Options{Client: c, Credential: fmt.Sprintf("c%d", i), Mount: "secret",
			Path: fmt.Sprintf("tokend/pool/c%d", i), KVVersion: 2, Fields: fields()})
		if err != nil {
			t.Fatal(err)
		}
		ss[i] = s
	}
	return ss
}

// TestConcurrentWritesReuseConnections: with max_concurrent = 256, 256
// credentials' Vault sinks written at once open their connections in the
// first burst and reuse them in every later one. vault/api's default pool
// (what the client used before), in the same run, reopens most of them at
// every burst.
func TestConcurrentWritesReuseConnections(t *testing.T) {
	const n = 256
	srv := vaulttest.Start(t)
	addr, cc := forward(t, srv)
	ss := sinksFor(t, client(t, srv, addr, vaultclient.WithConcurrency(n)), n)
	first := burst(t, cc, ss, 1)
	second, third := burst(t, cc, ss, 2), burst(t, cc, ss, 3)

	// The same bursts with vault/api's default pool.
	ac, err := api.NewClient(api.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := ac.SetAddress(addr); err != nil {
		t.Fatal(err)
	}
	ac.SetToken(srv.RootToken)
	ac.SetMaxRetries(0)
	var def [3]int64
	for b := range def {
		before := cc.n.Load()
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, err := ac.Logical().Write(fmt.Sprintf("secret/data/tokend/pooldefault/c%d", i), map[string]any{"data": map[string]any{"b": b}})
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		def[b] = cc.n.Load() - before
	}
	t.Logf("new connections per burst of %d concurrent sink writes: sized pool %d, %d, %d; vault/api's default pool %v",
		n, first, second, third, def)
	// A write may dial while another frees a connection: the first burst
	// opens about n, never more than the pool keeps.
	if first > 2*n || second != 0 || third != 0 {
		t.Fatalf("connections opened per burst: %d, %d, %d (want ≤ %d, then 0)", first, second, third, 2*n)
	}
}

// TestSinkWritesBounded: a client sized for 8 lets no more than 8 sink
// writes run at once — 64 sinks written together use at most 8
// connections, plus the login's — and they still all land.
func TestSinkWritesBounded(t *testing.T) {
	srv := vaulttest.Start(t)
	addr, cc := forward(t, srv)
	c := client(t, srv, addr, vaultclient.WithConcurrency(8))
	ss := sinksFor(t, c, 64)
	conns := burst(t, cc, ss, 1) + burst(t, cc, ss, 2)
	if total := cc.n.Load(); total > 9 {
		t.Fatalf("%d connections for writes bounded at 8 (%d during the bursts)", total, conns)
	}
	for i := range 64 {
		if d := read(t, srv, fmt.Sprintf("secret/data/tokend/pool/c%d", i)); d["access_token"] != "at-2" {
			t.Fatalf("sink %d holds %v", i, d["access_token"])
		}
	}
}

// TestHTTP2OverTLS: over TLS the client speaks HTTP/2, so bursts of 256
// concurrent writes share a few connections (a server allows 250 streams
// per connection; a request that finds them all busy may dial another)
// instead of opening one each.
func TestHTTP2OverTLS(t *testing.T) {
	srv := vaulttest.StartWith(t, vaulttest.Options{TLS: true})
	addr, cc := forward(t, srv)
	ss := sinksFor(t, client(t, srv, addr, vaultclient.WithConcurrency(256)), 256)
	conns := burst(t, cc, ss, 1) + burst(t, cc, ss, 2)
	t.Logf("connections over TLS: %d in all, %d during two bursts of 256 writes", cc.n.Load(), conns)
	// Without HTTP/2 the bursts open ~256 connections. With it a few, but
	// more under load: until the first TLS handshake has told net/http the
	// server speaks h2, each concurrent request may dial its own (19 in a
	// -race run beside other packages).
	if total := cc.n.Load(); total > 64 {
		t.Fatalf("%d connections over TLS: not HTTP/2", total)
	}
}
