package proxy

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/sinks"
	"github.com/tokend/tokend/internal/state"
)

// errNotRefreshed: the refresh a 401 asked for brought no newer token (it
// failed, was rate-limited by RefreshGap, or did not finish in time).
var errNotRefreshed = errors.New("no newer token")

// refresher turns 401s into refreshes of one credential: the requests that
// saw generation G rejected share one refresh (a flight), which the
// scheduler runs through its refresh order; they wake when the scheduler
// reports the credential's status changed (statusChanged), then send again
// with the newer token. Its lock is never held while calling the Source.
type refresher struct {
	src  Source
	name string
	wait time.Duration // longest wait for a flight
	gap  time.Duration // shortest time between two flights
	log  *zap.Logger

	mu     sync.Mutex
	flight *flight   // the refresh in progress, nil when none
	last   time.Time // when the last flight started
}

// flight is one refresh asked for by 401s of the token of generation gen.
type flight struct {
	gen     uint64
	started time.Time
	done    chan struct{} // closed by whoever removes it from refresher.flight
}

// refresh returns a token newer than generation used, asking for a
// refresh (or joining the one in progress) when the current token is still
// that one. Errors: a *noTokenError when the credential has no usable token
// (needs re-authorization), errNotRefreshed, or ctx's.
func (r *refresher) refresh(ctx context.Context, used uint64) (sinks.Token, error) {
	if tok, ok, err := r.newer(used); ok || err != nil {
		return tok, err
	}
	// kick finds no flight when none may start (RefreshGap) — or when the
	// one this 401 belongs to ended between newer above and kick: the
	// newer token is then current, so look again below.
	if f := r.kick(used); f != nil {
		t := time.NewTimer(r.wait)
		defer t.Stop()
		select {
		case <-f.done:
		case <-ctx.Done():
			return sinks.Token{}, ctx.Err()
		case <-t.C:
			r.end(f)
		}
	}
	tok, ok, err := r.newer(used)
	if err == nil && !ok {
		err = errNotRefreshed
	}
	return tok, err
}

// newer returns the current token and whether it is newer than used.
func (r *refresher) newer(used uint64) (sinks.Token, bool, error) {
	tok, st, err := r.src.Token(r.name)
	if err != nil {
		return sinks.Token{}, false, asNoToken(st, err)
	}
	return tok, tok.Generation > used, nil
}

// kick returns the flight in progress, or starts one for generation used
// (scheduler.RefreshNow) unless the last started less than gap ago; nil
// when none runs.
func (r *refresher) kick(used uint64) *flight {
	r.mu.Lock()
	if f := r.flight; f != nil {
		r.mu.Unlock()
		return f
	}
	now := time.Now()
	if !r.last.IsZero() && now.Sub(r.last) < r.gap {
		r.mu.Unlock()
		return nil
	}
	f := &flight{gen: used, started: now.Round(0), done: make(chan struct{})}
	r.flight, r.last = f, now
	r.mu.Unlock()
	r.log.Info("upstream rejected the token (401); refreshing", zap.Uint64("generation", used))
	if err := r.src.RefreshNow(r.name); err != nil {
		r.log.Warn("could not ask for a refresh", zap.Error(err))
		r.end(f)
	}
	return f
}

// end removes f if it is still the flight in progress and wakes its waiters.
func (r *refresher) end(f *flight) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.flight == f {
		r.flight = nil
		close(f.done)
	}
}

// statusChanged ends the flight once the refresh it asked for is over: a
// newer generation, re-authorization needed, or a failure recorded after
// it started. Other events (a sink job ending) leave it waiting.
func (r *refresher) statusChanged(st scheduler.CredentialStatus) {
	r.mu.Lock()
	f := r.flight
	r.mu.Unlock()
	if f == nil {
		return
	}
	failed := st.LastError != nil && !st.LastError.At.Before(f.started) && st.Status != state.StatusRefreshing
	if st.Generation > f.gen || st.Status == state.StatusNeedsReauth || failed {
		r.end(f)
	}
}
