// Package scheduler is tokend's refresh engine and the only package that owns
// goroutines and timers. It keeps one timer queue for all credentials, runs at
// most MaxConcurrent jobs at once (and, per provider, at most its
// ProviderLimit), and drives each refresh in the order that makes rotation
// safe:
//
//	load the record → re-check (someone may have refreshed) → record the
//	intent durably → call the token endpoint → save the new refresh token
//	durably → only then write the sinks → plan the next run.
//
// Once the provider has answered, the save completes even if shutdown began.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap"

	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/sinks"
	"github.com/tokend/tokend/internal/state"
)

// Store keeps the durable records. Implementations must be safe for concurrent
// use. Load returns an error wrapping state.ErrNotFound when the credential has
// no record. Save returns nil only once the record would survive a crash or
// power cut. Both honour ctx cancellation before doing work; an error means
// nothing is known to have been written.
type Store interface {
	Load(ctx context.Context, name string) (state.Record, error)
	Save(ctx context.Context, rec state.Record) error
}

// Claimer is an optional power of a Store shared by several replicas, found
// by type assertion. Claim takes the named credential's claim for ttl; only
// the holder may spend its refresh token. It returns an error wrapping
// state.ErrClaimed when another live replica holds it (an expired claim may be
// taken over). release gives the claim up early and must be safe to call once
// the claim has expired. Both honour ctx.
type Claimer interface {
	Claim(ctx context.Context, name string, ttl time.Duration) (release func(), err error)
}

// TokenSource obtains a new token from the provider: with the current refresh
// token for the refresh_token grant, ignoring it for client_credentials. It is
// called by one goroutine per credential at a time. Errors are classified with
// grants.ClassOf; a *grants.Error with Status 0 means no answer arrived, so the
// provider may or may not have spent the refresh token.
type TokenSource interface {
	Renew(ctx context.Context, refreshToken secret.Secret) (grants.Token, error)
}

// Preparer is an optional power of a TokenSource that must do something
// before it can send a request at all (a credential whose issuer was down at
// start-up discovers its endpoints first). refresh calls Prepare after the
// re-check and before recording the intent, so a failure there is known not
// to have spent the refresh token (no "outcome unknown" afterwards); its
// error is classified like Renew's. Renew may assume Prepare succeeded.
type Preparer interface {
	Prepare(ctx context.Context) error
}

// Sink delivers an access token. Write must be atomic from a reader's point of
// view, safe for concurrent use across credentials and honour ctx. An error
// leaves the previous token in place; the scheduler retries it on its own
// schedule without blocking the state commit or other sinks. String names the
// sink in logs (no secrets).
type Sink interface {
	Write(ctx context.Context, tok sinks.Token) error
	String() string
}

// Credential is what the scheduler needs to keep one credential alive.
type Credential struct {
	Name string
	// Grant decides whether a refresh spends a stored refresh token
	// (grants.GrantKind.SpendsRefreshToken): then the refresh order records
	// an intent first, and a missing token is seeded or needs a bootstrap.
	Grant         grants.Grant
	Source        TokenSource
	Sinks         []Sink
	RefreshBefore time.Duration // 0: a third of the lifetime
	Schedule      cron.Schedule // optional fixed schedule (robfig/cron)
	// Provider names the provider whose limits this credential's refreshes
	// count against (Options.ProviderLimit): the token endpoint's
	// scheme://host:port. "" counts against no provider.
	Provider string
	// Seed returns the first refresh token (refresh_token_file) when the store
	// has none; nil when none is configured.
	Seed func() (secret.Secret, error)
}

// Options configures a Scheduler. Zero values get the documented defaults.
type Options struct {
	Store         Store
	Logger        *zap.Logger
	Observer      Observer
	MaxConcurrent int              // default 16
	ShutdownGrace time.Duration    // default 30s: how long Run waits for in-flight work after ctx ends
	SaveTimeout   time.Duration    // default 15s per durable save
	SinkTimeout   time.Duration    // default 30s per sink write
	MaxWait       time.Duration    // default 30s: longest sleep before re-reading the wall clock (suspend/resume, clock steps)
	Backoff       Backoff          // default DefaultBackoff
	MinInterval   time.Duration    // default 2s: shortest gap between successful refreshes of one credential
	ClaimTTL      time.Duration    // default 2m: claim lifetime with a Claimer store (must outlast one refresh)
	Now           func() time.Time // wall clock; default time.Now (timers run on the monotonic clock and re-read it: clock.go)
	Rand          func() float64   // jitter in [0,1); default math/rand/v2
	// OnLoop, if set, is called on every iteration of the scheduler loop (at
	// least every MaxWait), outside any lock: a liveness signal for watchdogs.
	OnLoop func()
	// OnStarted, if set, is called once by Run, after every record is
	// loaded (the statuses are known) and before the first job starts; the
	// jobs wait for it to return. The daemon takes its start-up backup in
	// the meantime.
	OnStarted func()
	// OnSettled, if set, is called once, from the loop and outside any
	// lock, the first time no job runs or waits for a worker after start-up:
	// the start-up round (every sink rewritten or found current, every due
	// refresh done) is over. The daemon returns that round's garbage to the
	// OS then.
	OnSettled func()
	// ProviderLimit, if set, returns the limits for a provider key
	// (Credential.Provider). It is called under the scheduler's lock once per
	// key, the first time a refresh toward it is due, and must be fast and pure.
	ProviderLimit func(provider string) ProviderLimit
	// AnswerWait is how long shutdown lets unanswered token requests run
	// before cancelling them (default 1s, at most ShutdownGrace; stopping.go).
	AnswerWait time.Duration
	// ReauthRecheck is how often a credential in needs_reauth has its record
	// re-read from a shared store (a Claimer), to adopt a token another
	// writer stored (default DefaultReauthRecheck; recheck.go).
	ReauthRecheck time.Duration
}

// Scheduler keeps a set of credentials refreshed. Create with New, start with Run.
type Scheduler struct {
	opts    Options
	log     *zap.Logger
	credLog *zap.Logger // base of every entry's credLog (credlog.go)
	store   Store
	obs     Observer

	mu      sync.Mutex
	entries map[string]*entry
	order   []string // config order, for stable status output
	q       timerQueue
	clk     schedClock
	ready   []item // due, waiting for a worker slot
	gates   gates  // per-provider limits and their waiting refreshes (limits.go)
	running int
	started bool
	stopped bool

	seeds map[string]secret.Secret // refresh_token_file seeds not yet recorded (storefile.go)

	wake    chan struct{}
	workers sync.WaitGroup
	stop    stopper // cancels unanswered token requests at shutdown (stopping.go)
}

// New validates the credentials and returns a scheduler that is not yet running.
func New(opts Options, creds []Credential) (*Scheduler, error) {
	if opts.Store == nil {
		return nil, errors.New("scheduler: no state store")
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 16
	}
	if opts.ShutdownGrace <= 0 {
		opts.ShutdownGrace = 30 * time.Second
	}
	if opts.SaveTimeout <= 0 {
		opts.SaveTimeout = 15 * time.Second
	}
	if opts.SinkTimeout <= 0 {
		opts.SinkTimeout = 30 * time.Second
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = 30 * time.Second
	}
	if opts.ClaimTTL <= 0 {
		opts.ClaimTTL = 2 * time.Minute
	}
	if opts.MinInterval <= 0 {
		opts.MinInterval = 2 * time.Second
	}
	if opts.ReauthRecheck <= 0 {
		opts.ReauthRecheck = DefaultReauthRecheck
	}
	if opts.Backoff == (Backoff{}) {
		opts.Backoff = DefaultBackoff
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	s := &Scheduler{
		opts:    opts,
		log:     opts.Logger,
		credLog: credBase(opts.Logger),
		store:   opts.Store,
		obs:     opts.Observer,
		entries: map[string]*entry{},
		wake:    make(chan struct{}, 1),
	}
	for _, c := range creds {
		if err := s.addEntry(c); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Scheduler) addEntry(c Credential) error {
	if c.Name == "" || c.Source == nil {
		return fmt.Errorf("scheduler: credential %q needs a name and a token source", c.Name)
	}
	if _, dup := s.entries[c.Name]; dup {
		return fmt.Errorf("scheduler: credential %q configured twice", c.Name)
	}
	e := &entry{cred: c, log: credLog{base: s.credLog, name: c.Name}}
	e.sinks = make([]sinkState, len(c.Sinks))
	for i, sk := range c.Sinks {
		e.sinks[i].sink = sk
	}
	s.entries[c.Name] = e
	s.order = append(s.order, c.Name)
	return nil
}

// now returns the wall-clock time without its monotonic reading, so that
// comparisons follow the wall clock across suspend/resume.
func (s *Scheduler) now() time.Time { return s.opts.Now().Round(0) }

// Run loads every credential's record, writes current tokens to sinks, and
// refreshes credentials as they come due until ctx ends. It then stops
// scheduling, waits up to ShutdownGrace for in-flight refreshes to finish
// their saves, and returns nil. It returns an error only if start-up fails.
func (s *Scheduler) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("scheduler: Run called twice")
	}
	s.started = true
	s.mu.Unlock()

	if err := s.startup(ctx); err != nil {
		return err
	}
	if s.opts.OnStarted != nil {
		s.opts.OnStarted()
	}
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()

	timer := time.NewTimer(0)
	defer timer.Stop()
	var storeChecked time.Time
	settled := s.opts.OnSettled == nil
	_, keeper := s.store.(FileKeeper)
	for {
		if s.opts.OnLoop != nil {
			s.opts.OnLoop()
		}
		s.keepStore(&storeChecked) // storefile.go: a deleted or replaced store file
		s.flushSeeds()             // storefile.go: seeds on record before any job
		wait := s.dispatchDue(workCtx)
		s.settle(&settled)
		if keeper {
			wait = min(wait, storeCheckEvery)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return s.shutdown(cancelWork)
		case <-timer.C:
		case <-s.wake:
		}
	}
}

// settle calls OnSettled the first time no job runs or is ready to run;
// *done records that it did.
func (s *Scheduler) settle(done *bool) {
	if *done {
		return
	}
	s.mu.Lock()
	idle := s.running == 0 && len(s.ready) == 0
	s.mu.Unlock()
	if idle {
		*done = true
		s.opts.OnSettled()
	}
}

// dispatchDue starts every due job that has a worker slot and returns how long
// the loop may sleep.
func (s *Scheduler) dispatchDue(workCtx context.Context) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	now, clk := s.clockLocked()
	for {
		it, ok := s.q.peek()
		if !ok || it.at.After(clk) {
			break
		}
		s.q.pop()
		if e := s.entries[it.name]; e != nil && !e.removed && e.seq[it.kind] == it.seq {
			s.ready = append(s.ready, it)
		}
	}
	s.startWaitingLocked(workCtx) // refreshes held back by a provider limit go first
	for len(s.ready) > 0 && s.running < s.opts.MaxConcurrent {
		it := s.ready[0]
		s.ready = s.ready[1:]
		s.startLocked(workCtx, it, nil)
	}
	if len(s.ready) == 0 {
		s.ready = nil // let a drained burst's array go (every credential at start-up)
	}
	wait := s.tokenWaitLocked(now, s.opts.MaxWait)
	if it, ok := s.q.peek(); ok {
		wait = min(wait, it.at.Sub(clk))
	}
	return max(wait, 0)
}

// shutdown waits for in-flight jobs (answered refreshes finish their save),
// then cancels what is left. It returns an *UnsavedError naming the
// credentials whose answered refresh could not be saved.
func (s *Scheduler) shutdown(cancelWork context.CancelFunc) error {
	s.mu.Lock()
	s.stopped = true
	inflight := s.running
	s.mu.Unlock()
	defer s.beginStop()() // unanswered token requests are cancelled after AnswerWait
	s.log.Info("stopping: no new refreshes; waiting for in-flight work",
		zap.Int("in_flight", inflight), zap.Duration("grace", s.opts.ShutdownGrace))
	deadline := time.Now().Add(s.opts.ShutdownGrace)
	done := make(chan struct{})
	go func() { s.workers.Wait(); close(done) }()
	t := time.NewTimer(s.opts.ShutdownGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.log.Error("shutdown grace period ended with work still in flight; cancelling it",
			zap.Duration("grace", s.opts.ShutdownGrace))
		cancelWork()
		<-done
	}
	// Answered refreshes whose save failed are retried within the grace
	// (pending.go): their refresh tokens are spent.
	lost := s.savePending(deadline)
	s.releaseHolds()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range lost {
		if e := s.entries[name]; e.pending != nil {
			e.log.Error("exiting with an answered refresh that never reached the state store: its new refresh token is lost and the credential will need re-authorization",
				zap.Uint64("generation", e.pending.Generation))
		}
	}
	if len(lost) > 0 {
		s.log.Error("answered refreshes could not be saved within the shutdown grace", zap.Strings("credentials", lost),
			zap.Duration("grace", s.opts.ShutdownGrace))
	}
	s.log.Info("stopped")
	if len(lost) > 0 {
		return &UnsavedError{Credentials: lost}
	}
	return nil
}

// scheduleLocked queues a job for e at the given wall time, planned just now,
// replacing any earlier one of the same kind. It is queued on the scheduler's
// clock (clock.go): a later step of the wall clock does not move it.
func (s *Scheduler) scheduleLocked(e *entry, kind jobKind, at time.Time) {
	e.seq[kind]++
	s.q.add(item{at: s.dueLocked(at), wall: at, name: e.cred.Name, kind: kind, seq: e.seq[kind]}, s.currentLocked)
	if kind == jobRefresh {
		e.next = at
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// RefreshNow asks for an immediate refresh of the named credential, even one
// that needs re-authorization (after an import, say). It returns an error if
// the name is unknown; a refresh already in flight is not duplicated.
func (s *Scheduler) RefreshNow(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[name]
	if !ok || e.removed {
		return fmt.Errorf("unknown credential %q", name)
	}
	e.forced = true
	s.scheduleLocked(e, jobRefresh, s.now())
	return nil
}
