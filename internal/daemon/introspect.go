package daemon

import (
	"context"

	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/secret"
)

// tokenSource is the scheduler's source for a credential: the grants client
// itself, or, when an introspection_url is configured, a wrapper that asks
// the introspection endpoint for the expiry of tokens whose response gave
// none (RFC 7662; Apicbase documents exp there).
func tokenSource(c *grants.Client) scheduler.TokenSource {
	if !c.CanIntrospect() {
		return c
	}
	return introspectingSource{c}
}

// introspectingSource renews with the grants client, then completes the
// expiry with grants.Client.FillExpiry. An introspection failure never fails
// the renewal: the new token (and its rotated refresh token) must reach the
// state store; it keeps the default lifetime.
type introspectingSource struct{ c *grants.Client }

func (s introspectingSource) Renew(ctx context.Context, refreshToken secret.Secret) (grants.Token, error) {
	tok, err := s.c.Renew(ctx, refreshToken)
	if err != nil {
		return tok, err
	}
	tok, _ = s.c.FillExpiry(ctx, tok)
	return tok, nil
}
