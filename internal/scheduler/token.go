package scheduler

import (
	"errors"
	"fmt"

	"github.com/tokend/tokend/internal/sinks"
	"github.com/tokend/tokend/internal/state"
)

// ErrNoToken is wrapped by Token when the credential holds no access token
// a consumer could use now: it needs re-authorization, none was obtained
// yet, or the one it has expired.
var ErrNoToken = errors.New("no valid access token")

// ErrUnknownCredential is wrapped by Token for a name the scheduler does not run.
var ErrUnknownCredential = errors.New("unknown credential")

// Token returns the named credential's current access token as sinks
// receive it, and its status, for consumers that ask rather than read a
// sink (`tokend token`, the auth-injecting proxy). It never blocks on a
// refresh. The error wraps ErrUnknownCredential, or ErrNoToken (with the
// reason: needs_reauth, pending, expired) when there is no token to use;
// the status is returned with ErrNoToken too.
func (s *Scheduler) Token(name string) (sinks.Token, state.Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[name]
	if !ok || e.removed {
		return sinks.Token{}, "", fmt.Errorf("%w %q", ErrUnknownCredential, name)
	}
	st := s.statusLocked(e).Status
	rec := e.rec
	now := s.now()
	switch {
	case e.status == state.StatusNeedsReauth:
		return sinks.Token{}, state.StatusNeedsReauth, fmt.Errorf("credential %q: %w (needs re-authorization)", name, ErrNoToken)
	case rec.AccessToken.IsZero():
		return sinks.Token{}, st, fmt.Errorf("credential %q: %w (%s: none obtained yet)", name, ErrNoToken, st)
	case !rec.ExpiresAt.IsZero() && !now.Before(rec.ExpiresAt):
		return sinks.Token{}, st, fmt.Errorf("credential %q: %w (the token expired at %s)", name, ErrNoToken, rec.ExpiresAt.UTC().Format("2006-01-02T15:04:05Z"))
	}
	return sinks.Token{Credential: name, AccessToken: rec.AccessToken, TokenType: rec.TokenType,
		Scope: rec.Scope, ExpiresAt: rec.ExpiresAt, Generation: rec.Generation}, st, nil
}
