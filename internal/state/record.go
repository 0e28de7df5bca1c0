// Package state keeps the durable per-credential records: the refresh token
// (the crown jewel), the current access token and the bookkeeping the
// scheduler needs to resume after a restart.
package state

import (
	"errors"
	"maps"
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
	// RefreshTokenExpiresAt is when the stored refresh token dies
	// (refresh_token_expires_in); zero: unknown or never.
	// RefreshTokenIssuedAt is when that expiry was last extended: the
	// issue time of the answer that brought a new refresh token or moved
	// the expiry later; with it RefreshTokenExpiresAt gives the refresh
	// token's whole life (the keep-alive window is a share of it).
	RefreshTokenExpiresAt time.Time
	RefreshTokenIssuedAt  time.Time
	// Extra holds the kept token-response fields (the credential's
	// extra_fields), nil when none. A later answer replaces the fields it
	// carries and leaves the others as they were. Secrets for logging
	// purposes: id_token is a credential.
	Extra map[string]secret.Secret
}

// Tokens is what a token endpoint (a refresh) or an out-of-band bootstrap
// (tokend authorize, tokend import) issued for a credential.
type Tokens struct {
	RefreshToken secret.Secret // zero keeps the stored one (RFC 6749 §6: rotation is optional)
	AccessToken  secret.Secret // zero (imports only): none yet, refresh right away
	TokenType    string
	Scope        string
	ExpiresAt    time.Time // zero: unknown
	IssuedAt     time.Time // zero: the transition's fallback (see Refreshed, Imported)
	// RefreshTokenExpiresAt is the refresh token's expiry when the answer
	// gave one; zero keeps the stored one if the refresh token did not
	// change, and clears it if it did.
	RefreshTokenExpiresAt time.Time
	// Extra are the kept response fields the answer carried; merged into
	// the record's (see Record.Extra).
	Extra map[string]secret.Secret
}

// WithIntent is r about to present its refresh token to the token endpoint:
// the durable intent that must be saved before the request (the refresh
// order), status refreshing.
func (r Record) WithIntent(started time.Time) Record {
	r.Intent = &Intent{Generation: r.Generation, StartedAt: started}
	r.Status = StatusRefreshing
	return r
}

// Failed is r after a failed refresh. info is the error to show; permanent
// sets needs_reauth (else backoff); answered (the provider answered, so the
// outcome is known) clears the intent, which otherwise stays so a restart
// knows the refresh token may have been spent.
func (r Record) Failed(info *ErrorInfo, permanent, answered bool) Record {
	if answered {
		r.Intent = nil
	}
	r.LastError, r.Status = info, StatusBackoff
	if permanent {
		r.Status = StatusNeedsReauth
	}
	return r
}

// Refreshed is r after the token endpoint answered a refresh started at
// sent with t, at now: the next generation, the rotated refresh token (the
// old one kept when t has none), t's access token and times (IssuedAt
// falling back to sent), status ok with LastSuccess now, intent and last
// error cleared. (A token endpoint answer always has an access token:
// grants rejects one without.)
func (r Record) Refreshed(t Tokens, sent, now time.Time) Record {
	if t.IssuedAt.IsZero() {
		t.IssuedAt = sent
	}
	r = r.next(t, now)
	r.Status, r.LastSuccess = StatusOK, now
	return r
}

// Imported is r after storing tokens obtained out of band for credential
// name, at now: the next generation (so a running scheduler adopts it), the
// refresh token replaced only when t has one, the access token and its
// times replaced (IssuedAt falling back to now), intent and last error
// cleared, status ok with LastSuccess now, or pending when t has no access
// token. Every import path (daemon, store written directly) uses it.
func (r Record) Imported(name string, t Tokens, now time.Time) Record {
	r.Credential = name
	if t.IssuedAt.IsZero() {
		t.IssuedAt = now
	}
	return r.next(t, now)
}

// next is the common part of Refreshed and Imported.
func (r Record) next(t Tokens, now time.Time) Record {
	r.Generation++
	switch {
	case !t.RefreshToken.IsZero():
		r.RefreshToken, r.RefreshTokenExpiresAt, r.RefreshTokenIssuedAt = t.RefreshToken, t.RefreshTokenExpiresAt, time.Time{}
		if !t.RefreshTokenExpiresAt.IsZero() {
			r.RefreshTokenIssuedAt = t.IssuedAt
		}
	case !t.RefreshTokenExpiresAt.IsZero():
		// The same refresh token, its remaining life restated (Intuit): an
		// expiry that moved later by more than a minute is an extension; a
		// restated one (seconds of jitter) is not.
		if t.RefreshTokenExpiresAt.Sub(r.RefreshTokenExpiresAt) > time.Minute {
			r.RefreshTokenIssuedAt = t.IssuedAt
		}
		r.RefreshTokenExpiresAt = t.RefreshTokenExpiresAt
	}
	r.Extra = mergeExtra(r.Extra, t.Extra)
	r.AccessToken, r.TokenType, r.Scope = t.AccessToken, t.TokenType, t.Scope
	r.ExpiresAt, r.IssuedAt = t.ExpiresAt, t.IssuedAt
	r.Intent, r.LastError, r.Status = nil, nil, StatusPending
	if !t.AccessToken.IsZero() {
		r.Status, r.LastSuccess = StatusOK, now
	}
	return r
}

// mergeExtra is old with every field of update set over it, in a new map
// (records are values: the old map may be shared with a copy).
func mergeExtra(old, update map[string]secret.Secret) map[string]secret.Secret {
	if len(update) == 0 {
		return old
	}
	out := make(map[string]secret.Secret, len(old)+len(update))
	maps.Copy(out, old)
	maps.Copy(out, update)
	return out
}
