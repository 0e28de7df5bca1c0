package vaultclient

import (
	"context"
	"fmt"
	"net/http"

	"github.com/hashicorp/vault/api"
)

// DefaultConcurrency is the concurrency a Client is sized for without
// WithConcurrency (the scheduler's default max_concurrent).
const DefaultConcurrency = 16

// Option tunes New.
type Option func(*options)

type options struct{ concurrency int }

// WithConcurrency sizes the client for n concurrent refreshes (the
// scheduler's max_concurrent; n < 1 keeps the default): WriteSlot lets n
// sink writes run at once, and the connection pool keeps 2n connections
// open between requests — the sink writes plus one state-store request per
// refresh. vault/api's default pool keeps GOMAXPROCS+1 idle connections per
// host, so every burst of concurrent writes over plain HTTP/1.1 closed all
// but those few and opened new ones (a TLS handshake each over HTTPS
// without HTTP/2). Over TLS the client speaks HTTP/2 (vault/api configures
// it), where the requests share one connection anyway.
func WithConcurrency(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.concurrency = n
		}
	}
}

// sizePool sets the idle pool of cfg's transport for n concurrent
// refreshes (see WithConcurrency).
func sizePool(cfg *api.Config, n int) error {
	tr, ok := cfg.HttpClient.Transport.(*http.Transport)
	if !ok {
		return fmt.Errorf("unsupported HTTP transport %T", cfg.HttpClient.Transport)
	}
	tr.MaxIdleConnsPerHost = 2 * n
	tr.MaxIdleConns = max(tr.MaxIdleConns, 2*n)
	return nil
}

// WriteSlot waits for one of the client's sink-write slots (WithConcurrency)
// and returns its release, so that however many sinks a burst of refreshes
// writes at once, at most that many writes are in flight — and the pool
// keeps a connection for each. State-store requests (claims, records) take
// no slot: a claim renewal never waits behind sink writes. It fails only
// when ctx ends first.
func (c *Client) WriteSlot(ctx context.Context) (release func(), err error) {
	select {
	case c.slots <- struct{}{}:
		return func() { <-c.slots }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a vault write slot: %w", context.Cause(ctx))
	}
}
