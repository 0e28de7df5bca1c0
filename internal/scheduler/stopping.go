package scheduler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/state"
)

// defaultAnswerWait is Options.AnswerWait's default.
const defaultAnswerWait = time.Second

// stopper is cancelled when shutdown gives up on token requests that have not
// been answered. Its zero value is ready; it is safe for concurrent use.
type stopper struct {
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
}

func (st *stopper) init() {
	st.once.Do(func() { st.ctx, st.cancel = context.WithCancel(context.Background()) })
}

// done is closed once shutdown cancels unanswered token requests.
func (st *stopper) done() context.Context { st.init(); return st.ctx }

// stop cancels every token request in flight and every one started later.
func (st *stopper) stop() { st.init(); st.cancel() }

// stoppedError marks a token request that shutdown cancelled before the
// provider answered. The provider may still have received it, so a record
// with an intent keeps it (the next start re-checks, as after a crash).
type stoppedError struct{ err error }

func (e *stoppedError) Error() string {
	return fmt.Sprintf("cancelled by shutdown before the provider answered: %v", e.err)
}
func (e *stoppedError) Unwrap() error { return e.err }

// stoppedByShutdown reports whether err is a token request shutdown cancelled.
func stoppedByShutdown(err error) bool {
	var se *stoppedError
	return errors.As(err, &se)
}

// renew calls c's token endpoint (its TokenSource bounds the request:
// [scheduler] request_timeout) and cancels the call when shutdown gives up on
// unanswered requests (beginStop). An answer that arrived is returned as is:
// the caller saves it even during shutdown.
func (s *Scheduler) renew(ctx context.Context, c Credential, rt secret.Secret) (grants.Token, error) {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopped := s.stop.done()
	defer context.AfterFunc(stopped, cancel)()
	tok, err := c.Source.Renew(rctx, rt)
	if err != nil && stopped.Err() != nil && errors.Is(err, context.Canceled) {
		return tok, &stoppedError{err}
	}
	return tok, err
}

// beginStop gives token requests in flight Options.AnswerWait (at most the
// shutdown grace) to be answered, then cancels the rest, so a hung provider
// does not hold shutdown for its whole request timeout. Saves of answered
// refreshes are not cancelled.
func (s *Scheduler) beginStop() (cancel func()) {
	wait := s.opts.AnswerWait
	if wait <= 0 {
		wait = defaultAnswerWait
	}
	t := time.AfterFunc(min(wait, s.opts.ShutdownGrace), s.stop.stop)
	return func() { t.Stop() }
}

// stoppedLocked records a refresh whose token request shutdown cancelled:
// one line, no backoff (nothing is scheduled any more).
func (s *Scheduler) stoppedLocked(e *entry, res result) {
	e.rec = res.rec
	if res.rec.Intent != nil {
		e.unknown = true // the request may have reached the provider
	}
	e.status = state.StatusBackoff
	e.log.Info("shutdown cancelled the token request before the provider answered; the next start re-checks this credential",
		zap.Bool("outcome_unknown", res.rec.Intent != nil))
}

// Abandoned lists, in config order, the credentials whose work would be lost
// by exiting now: a job in flight (a token request, a save, a sink write) or
// an answered refresh not yet saved. Safe to call from any goroutine.
func (s *Scheduler) Abandoned() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for _, name := range s.order {
		if e := s.entries[name]; e != nil && !e.removed && (e.inflight || e.pending != nil) {
			names = append(names, name)
		}
	}
	return names
}
