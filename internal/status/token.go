package status

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"

	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/sinks"
	"github.com/tokend/tokend/internal/state"
)

// TokenBackend is the optional power of a Backend to hand out a
// credential's current access token (scheduler.Scheduler.Token), found by
// type assertion. Token must be safe for concurrent use and must not block;
// its error wraps scheduler.ErrUnknownCredential or scheduler.ErrNoToken.
type TokenBackend interface {
	Token(name string) (sinks.Token, state.Status, error)
}

// tokenBody is the answer of GET /v1/credentials/{name}/token (admin): the
// one response of the status server that holds a token. It is sent with
// Cache-Control: no-store and never logged.
type tokenBody struct {
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
	Generation  uint64    `json:"generation"`
}

// noTokenBody is its answer when the credential has no usable token (503).
type noTokenBody struct {
	Error  string       `json:"error"`
	Status state.Status `json:"status"`
}

// token answers GET /v1/credentials/{name}/token (behind admin).
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	tb, ok := s.opts.Backend.(TokenBackend)
	if !ok {
		writeError(w, http.StatusNotImplemented, "this daemon does not hand out tokens")
		return
	}
	tok, st, err := tb.Token(name)
	switch {
	case errors.Is(err, scheduler.ErrUnknownCredential):
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown credential %q", name))
		return
	case errors.Is(err, scheduler.ErrNoToken):
		writeJSON(w, http.StatusServiceUnavailable, noTokenBody{Error: err.Error(), Status: st})
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.log.Debug("admin: access token read", zap.String("credential", name), zap.String("token_fp", tok.AccessToken.Fingerprint()))
	writeJSON(w, http.StatusOK, tokenBody{AccessToken: tok.AccessToken.Reveal(), TokenType: tok.TokenType,
		ExpiresAt: tok.ExpiresAt, Generation: tok.Generation})
}

// Token is a credential's current access token as the daemon hands it out.
type Token struct {
	AccessToken secret.Secret
	TokenType   string // as the provider sent it; "" when it sent none
	ExpiresAt   time.Time
	Generation  uint64
}

// ErrNoToken is wrapped by Client.Token when the daemon runs the credential
// but has no usable token for it (needs re-authorization, none yet, expired).
var ErrNoToken = errors.New("no valid access token")

// Token reads the named credential's current access token from the daemon
// (admin). Errors: IsNotFound for an unknown credential, ErrNoToken (with
// the daemon's reason), ErrUnreachable; none holds the token.
func (c *Client) Token(ctx context.Context, name string) (Token, error) {
	var out tokenBody
	err := c.do(ctx, http.MethodGet, "/v1/credentials/"+url.PathEscape(name)+"/token", true, nil, &out)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusServiceUnavailable {
		return Token{}, fmt.Errorf("%w: %s", ErrNoToken, ae.Message)
	}
	if err != nil {
		return Token{}, err
	}
	if out.AccessToken == "" {
		return Token{}, fmt.Errorf("%w: the daemon sent an empty token", ErrNoToken)
	}
	return Token{AccessToken: secret.New(out.AccessToken), TokenType: out.TokenType, ExpiresAt: out.ExpiresAt, Generation: out.Generation}, nil
}
