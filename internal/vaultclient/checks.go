package vaultclient

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// checkTTL is how long a prefetched start-up check answers for: long enough
// for one build of every sink, short enough that a reload asks Vault again.
const checkTTL = time.Minute

// capabilityBatch bounds the paths of one sys/capabilities-self request
// (about 100 bytes each: far under Vault's request size limit).
const capabilityBatch = 2000

// checkCache holds the answers of a Prefetch: each mount's KV version and
// each path's capabilities, so that building N sinks costs one request per
// distinct mount plus one per capabilityBatch paths instead of 2N requests
// in series (5,000 Vault sinks took 10.5 s to start).
type checkCache struct {
	mu     sync.Mutex
	at     time.Time
	mounts map[string]mountAnswer
	caps   map[string][]string
}

type mountAnswer struct {
	version int
	err     error
}

func (c *checkCache) fresh(now time.Time) bool {
	return !c.at.IsZero() && now.Sub(c.at) < checkTTL
}

// Prefetch asks Vault once for the KV version of each distinct mount and,
// in batches, for the token's capabilities on every path, and keeps the
// answers for KVVersion and Capabilities for the next checkTTL. A failed
// request leaves its mounts or paths out (the later call asks again and
// reports the error where it belongs); the first such error is returned.
func (c *Client) Prefetch(ctx context.Context, mounts, paths []string) error {
	mounts = slices.Compact(slices.Sorted(slices.Values(mounts)))
	paths = slices.Compact(slices.Sorted(slices.Values(paths)))
	cache := &checkCache{mounts: make(map[string]mountAnswer, len(mounts)), caps: make(map[string][]string, len(paths))}
	var first error
	for _, m := range mounts {
		v, err := c.kvVersion(ctx, m)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// "not found" and "not kv" are answers worth keeping; a failure
		// to ask is not.
		if _, answer := err.(*MountError); err != nil && !answer {
			first = cmpOr(first, fmt.Errorf("mount %q: %w", m, err))
			continue
		}
		cache.mounts[m] = mountAnswer{v, err}
	}
	for chunk := range slices.Chunk(paths, capabilityBatch) {
		caps, err := c.capabilities(ctx, chunk)
		if err != nil {
			first = cmpOr(first, err)
			continue
		}
		for _, p := range chunk {
			cache.caps[p] = caps[p] // nil: no capabilities, also an answer
		}
	}
	cache.at = time.Now()
	c.checks.mu.Lock()
	c.checks.at, c.checks.mounts, c.checks.caps = cache.at, cache.mounts, cache.caps
	c.checks.mu.Unlock()
	return first
}

// cachedMount is Prefetch's answer for mount, if it is fresh.
func (c *Client) cachedMount(mount string) (mountAnswer, bool) {
	c.checks.mu.Lock()
	defer c.checks.mu.Unlock()
	if !c.checks.fresh(time.Now()) {
		return mountAnswer{}, false
	}
	a, ok := c.checks.mounts[mount]
	return a, ok
}

// cachedCaps returns Prefetch's answers for all of paths, if it has every
// one of them fresh.
func (c *Client) cachedCaps(paths []string) (map[string][]string, bool) {
	c.checks.mu.Lock()
	defer c.checks.mu.Unlock()
	if !c.checks.fresh(time.Now()) {
		return nil, false
	}
	out := make(map[string][]string, len(paths))
	for _, p := range paths {
		caps, ok := c.checks.caps[p]
		if !ok {
			return nil, false
		}
		if caps != nil {
			out[p] = caps
		}
	}
	return out, true
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
