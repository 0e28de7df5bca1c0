// Package state keeps the durable per-credential records: the refresh token
// (the crown jewel), the current access token and the bookkeeping the
// scheduler needs to resume after a restart.
package state

import (
	"errors"
	"time"

	"github.com/tokend/tokend/internal/secret"
)

// ErrNotFound is returned by Load when no record exists for a credential.
var ErrNotFound = errors.New("no stored record")

// ErrClaimed is returned by a shared store's Claim when another live replica
// holds the credential's claim: it is refreshing, so this one must not.
var ErrClaimed = errors.New("claimed by another replica")

// ErrConflict is returned by a shared store's Save when the record changed
// since this replica read it (check-and-set failed).
var ErrConflict = errors.New("record changed concurrently (check-and-set failed)")

// Status is a credential's lifecycle state as shown to operators.
type Status string

// The statuses a record can have.
const (
	StatusOK          Status = "ok"           // a valid access token is in the sinks
	StatusRefreshing  Status = "refreshing"   // a refresh is in flight (intent recorded)
	StatusBackoff     Status = "backoff"      // the last attempt failed transiently; retrying
	StatusNeedsReauth Status = "needs_reauth" // permanent failure; an operator must re-authorize
	StatusPending     Status = "pending"      // no token obtained yet
)

// ErrorInfo is the last error recorded for a credential. It never holds a
// response body or a token: only a class, an OAuth-style code and a short
// description safe to show.
type ErrorInfo struct {
	Class       string    `json:"class"` // "permanent", "transient", "outcome_unknown", "storage", ...
	Code        string    `json:"code,omitempty"`
	Description string    `json:"description,omitempty"`
	At          time.Time `json:"at"`
}

// Intent marks that a refresh token of the given generation is about to be
// (or was) presented to the token endpoint and no answer has been committed.
// Finding one at start-up means the outcome of that refresh is unknown.
type Intent struct {
	Generation uint64    `json:"generation"`
	StartedAt  time.Time `json:"started_at"`
}

// Record is everything tokend stores for one credential.
type Record struct {
	Credential   string
	RefreshToken secret.Secret
	AccessToken  secret.Secret
	TokenType    string
	Scope        string
	ExpiresAt    time.Time // zero: unknown
	IssuedAt     time.Time // when the current access token was obtained
	Generation   uint64    // +1 on every committed refresh; 0 = seeded, never refreshed
	LastSuccess  time.Time
	LastError    *ErrorInfo
	Status       Status
	Intent       *Intent
}
