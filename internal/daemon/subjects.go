package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/state"
)

// currentToken is the named credential's current access token, read from
// the state store: what a token_exchange credential with subject_credential
// presents (grants.Config.CredentialToken). Reading the committed record,
// not the scheduler's memory, means the subject token is one the refresh
// order has already saved. An error (never containing a token) when the
// credential has no token yet or its token has expired; the exchange is
// then retried with backoff.
func (d *Daemon) currentToken(ctx context.Context, name string) (secret.Secret, error) {
	if d.store == nil {
		return secret.Secret{}, errors.New("state store not open yet")
	}
	rec, err := d.store.Load(ctx, name)
	if errors.Is(err, state.ErrNotFound) {
		return secret.Secret{}, fmt.Errorf("credential %q has not been renewed yet", name)
	}
	if err != nil {
		return secret.Secret{}, err
	}
	if rec.AccessToken.IsZero() || (!rec.ExpiresAt.IsZero() && !time.Now().Before(rec.ExpiresAt)) {
		return secret.Secret{}, fmt.Errorf("credential %q has no unexpired access token", name)
	}
	return rec.AccessToken, nil
}
