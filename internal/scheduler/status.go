package scheduler

import (
	"time"

	"github.com/tokend/tokend/internal/state"
)

// Observer receives events for metrics. Calls are made from worker and loop
// goroutines, possibly concurrently, and must not block.
type Observer interface {
	// RefreshFinished reports one call to the token endpoint (err nil on success).
	RefreshFinished(credential string, took time.Duration, err error)
	// SinkWritten reports one sink write.
	SinkWritten(credential, sink string, err error)
	// StatusChanged reports a credential's status after every job.
	StatusChanged(st CredentialStatus)
}

type nopObserver struct{}

func (nopObserver) RefreshFinished(string, time.Duration, error) {}
func (nopObserver) SinkWritten(string, string, error)            {}
func (nopObserver) StatusChanged(CredentialStatus)               {}

// CredentialStatus is the operator's view of one credential. It holds no
// token, only a fingerprint.
type CredentialStatus struct {
	Name        string           `json:"name"`
	Status      state.Status     `json:"status"`
	ExpiresAt   time.Time        `json:"expires_at,omitzero"`
	NextRefresh time.Time        `json:"next_refresh,omitzero"`
	Generation  uint64           `json:"generation"`
	LastSuccess time.Time        `json:"last_success,omitzero"`
	LastError   *state.ErrorInfo `json:"last_error,omitempty"`
	TokenFP     string           `json:"token_fingerprint"`
	Attempt     int              `json:"failed_attempts"`
	Sinks       []SinkStatus     `json:"sinks"`
	// RefreshTokenExpiresAt is when the stored refresh token dies, when the
	// provider said (refresh_token_expires_in); left out when unknown.
	RefreshTokenExpiresAt time.Time `json:"refresh_token_expires_at,omitzero"`

	// ExpiresGuessed: the provider sent no expiry and ExpiresAt is
	// default_lifetime's guess (known for refreshes this process made).
	ExpiresGuessed bool `json:"expires_at_guessed,omitempty"`
}

// SinkStatus is the delivery state of one sink. OK is whether the last
// attempt succeeded; Generation and ExpiresAt are those of the token the sink
// last received successfully (what its consumers read now), LastSuccess when
// that was, LastAttempt (and LastWrite, its older name) when a write was
// last tried. Unknown times are left out of the JSON.
type SinkStatus struct {
	Name        string    `json:"name"`
	OK          bool      `json:"ok"`
	Generation  uint64    `json:"generation"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastWrite   time.Time `json:"last_write,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
}

// Snapshot returns every credential's status in config order.
func (s *Scheduler) Snapshot() []CredentialStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]CredentialStatus, 0, len(s.order))
	nsinks := 0
	for _, name := range s.order {
		nsinks += len(s.entries[name].sinks)
	}
	// One array for every credential's sink statuses, not one each: a
	// snapshot (each /readyz, each scrape) of 100,000 credentials was
	// 100,000 allocations more.
	sinks := make([]SinkStatus, 0, nsinks)
	for _, name := range s.order {
		if e := s.entries[name]; !e.removed {
			st := s.statusIntoLocked(e, sinks[len(sinks):len(sinks):len(sinks)+len(e.sinks)])
			sinks = sinks[:len(sinks)+len(st.Sinks)]
			out = append(out, st)
		}
	}
	return out
}

// fingerprintLocked is the access token's fingerprint, computed once per
// token: every snapshot (each scrape, each /readyz) asks for all of them.
func (e *entry) fingerprintLocked() string {
	if e.fp == "" || !e.fpOf.Equal(e.rec.AccessToken) {
		e.fpOf, e.fp = e.rec.AccessToken, e.rec.AccessToken.Fingerprint()
	}
	return e.fp
}

func (s *Scheduler) statusLocked(e *entry) CredentialStatus { return s.statusIntoLocked(e, nil) }

// statusIntoLocked is e's status, its sinks' statuses appended to sinks
// (nil: a slice of their own; none: nil, as before).
func (s *Scheduler) statusIntoLocked(e *entry, sinks []SinkStatus) CredentialStatus {
	st := CredentialStatus{
		Name: e.cred.Name, Status: e.status, ExpiresAt: e.rec.ExpiresAt, NextRefresh: e.next,
		Generation: e.rec.Generation, LastSuccess: e.rec.LastSuccess, LastError: e.rec.LastError,
		TokenFP: e.fingerprintLocked(), Attempt: e.attempt, RefreshTokenExpiresAt: e.rec.RefreshTokenExpiresAt,
		ExpiresGuessed: e.guessed && !e.rec.ExpiresAt.IsZero(),
	}
	if e.inflight && st.Status != state.StatusNeedsReauth {
		st.Status = state.StatusRefreshing
	}
	if st.Status == "" {
		st.Status = state.StatusPending
	}
	if len(e.sinks) > 0 {
		st.Sinks = sinks
	}
	for _, ss := range e.sinks {
		sst := SinkStatus{Name: ss.sink.String(), OK: ss.ok, Generation: ss.written, ExpiresAt: ss.expires,
			LastSuccess: ss.lastOK, LastAttempt: ss.lastAt, LastWrite: ss.lastAt}
		if ss.lastErr != nil {
			sst.LastError = ss.lastErr.Error()
		}
		st.Sinks = append(st.Sinks, sst)
	}
	return st
}
