package scheduler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/sinks"
	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/syncbuf"
)

// memStore is an in-memory Store with failure injection.
type memStore struct {
	mu       sync.Mutex
	recs     map[string]state.Record
	saves    int
	failSave func(rec state.Record) error // nil: succeed
	failLoad func(name string) error      // nil: succeed
}

func newMemStore() *memStore { return &memStore{recs: map[string]state.Record{}} }

func (m *memStore) Load(ctx context.Context, name string) (state.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failLoad != nil {
		if err := m.failLoad(name); err != nil {
			return state.Record{}, err
		}
	}
	r, ok := m.recs[name]
	if !ok {
		return state.Record{}, fmt.Errorf("loading %q: %w", name, state.ErrNotFound)
	}
	return r, nil
}

func (m *memStore) Save(ctx context.Context, rec state.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failSave != nil {
		if err := m.failSave(rec); err != nil {
			return err
		}
	}
	m.saves++
	m.recs[rec.Credential] = rec
	return nil
}

func (m *memStore) get(name string) state.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.recs[name]
}

func (m *memStore) setFail(f func(state.Record) error) {
	m.mu.Lock()
	m.failSave = f
	m.mu.Unlock()
}

// strictSource is a strict rotating provider in memory: every refresh
// rotates; presenting a used refresh token is reuse and kills the family.
type strictSource struct {
	mu       sync.Mutex
	ttl      time.Duration
	current  string
	used     map[string]bool
	revoked  bool
	n        int
	calls    []time.Time
	reuses   int
	failures []error                // served FIFO before normal processing
	block    chan struct{}          // if non-nil, Renew waits on it after rotating
	issued   []string               // every token value issued
	onRenew  func(rt secret.Secret) // optional hook
	noRotate bool                   // client_credentials style: no refresh token
	now      func() time.Time       // nil: time.Now
}

func newStrictSource(ttl time.Duration, first string) *strictSource {
	return &strictSource{ttl: ttl, current: first, used: map[string]bool{}, issued: []string{first}}
}

func (s *strictSource) Renew(ctx context.Context, rt secret.Secret) (grants.Token, error) {
	s.mu.Lock()
	s.calls = append(s.calls, time.Now())
	if len(s.failures) > 0 {
		err := s.failures[0]
		s.failures = s.failures[1:]
		s.mu.Unlock()
		return grants.Token{}, err
	}
	if !s.noRotate {
		if s.used[rt.Reveal()] {
			s.reuses++
			s.revoked = true
		}
		if s.revoked || rt.Reveal() != s.current {
			s.mu.Unlock()
			return grants.Token{}, &grants.Error{Credential: "x", Status: 400, Code: "invalid_grant", Class: grants.ClassPermanent}
		}
		s.used[rt.Reveal()] = true
	}
	s.n++
	now := time.Now()
	if s.now != nil {
		now = s.now()
	}
	tok := grants.Token{
		AccessToken: secret.New(fmt.Sprintf("at-%d-secretvalue", s.n)),
		TokenType:   "Bearer", IssuedAt: now, ExpiresAt: now.Add(s.ttl), ExpirySource: "expires_in",
	}
	s.issued = append(s.issued, tok.AccessToken.Reveal())
	if !s.noRotate {
		s.current = fmt.Sprintf("rt-%d-secretvalue", s.n)
		tok.RefreshToken = secret.New(s.current)
		s.issued = append(s.issued, s.current)
	}
	block := s.block
	s.mu.Unlock()
	if block != nil {
		<-block
	}
	return tok, nil
}

func (s *strictSource) fail(errs ...error) {
	s.mu.Lock()
	s.failures = append(s.failures, errs...)
	s.mu.Unlock()
}

func (s *strictSource) stats() (n, reuses int, calls []time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n, s.reuses, append([]time.Time(nil), s.calls...)
}

// recSink records writes and checks commit-before-sink: when a token of
// generation g arrives, the store must already hold generation >= g.
type recSink struct {
	mu     sync.Mutex
	name   string
	store  *memStore
	writes []sinks.Token
	fails  int // fail this many writes first
	t      *testing.T
}

func (r *recSink) Write(ctx context.Context, tok sinks.Token) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fails > 0 {
		r.fails--
		return errors.New("disk full (injected)")
	}
	if got := r.store.get(tok.Credential).Generation; got < tok.Generation {
		r.t.Errorf("sink %s got generation %d before the store committed it (store has %d)", r.name, tok.Generation, got)
	}
	r.writes = append(r.writes, tok)
	return nil
}

func (r *recSink) String() string { return "rec:" + r.name }

func (r *recSink) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.writes)
}

func (r *recSink) last() sinks.Token {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.writes) == 0 {
		return sinks.Token{}
	}
	return r.writes[len(r.writes)-1]
}

func newLogger(w *syncbuf.Buffer) *zap.Logger {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(w), zap.DebugLevel))
}

func seed(rt string) func() (secret.Secret, error) {
	return func() (secret.Secret, error) { return secret.New(rt), nil }
}
