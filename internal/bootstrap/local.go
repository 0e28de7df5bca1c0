package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/sinks/file"
	"github.com/tokend/tokend/internal/state"
)

// OpenLocal opens cfg's file state store for a command that works on it
// while no daemon runs (through state.OpenConfig, so the encryption key
// applies). When a daemon holds the store, or the backend is vault (which
// only daemons read and write), the error wraps state.ErrLocked: the caller
// goes through the daemon, or reads what the daemon delivered, instead.
func OpenLocal(cfg *config.Config, lockTimeout time.Duration) (*state.FileStore, error) {
	if cfg.State.Backend == "vault" {
		return nil, fmt.Errorf("the vault state backend is used by a running tokend only: %w", state.ErrLocked)
	}
	return state.OpenConfig(cfg.State, lockTimeout)
}

// Current is a credential's token as ReadCurrent found it.
type Current struct {
	Token secret.Secret
	// Record is the stored record and Store the state store, still open,
	// when the token came from the store (the caller closes Store); both
	// are nil when the token was read from a sink.
	Record *state.Record
	Store  *state.FileStore
}

// ReadCurrent finds cr's current access token, or with refresh its refresh
// token, without a daemon's help: from the state store when no daemon holds
// it (the store is returned open, for MarkNeedsReauth), else the access token
// the daemon delivered to the credential's first file sink. A refresh token
// cannot be read while a daemon holds the store. Errors never hold a token.
func ReadCurrent(ctx context.Context, cfg *config.Config, cr *config.Credential, refresh bool) (Current, error) {
	st, err := OpenLocal(cfg, 0)
	if errors.Is(err, state.ErrLocked) {
		if refresh {
			return Current{}, errors.New("a running tokend holds the state store, so the refresh token cannot be read; stop it first")
		}
		tok, err := accessTokenFromSinks(cr)
		return Current{Token: tok}, err
	}
	if err != nil {
		return Current{}, err
	}
	rec, err := st.Load(ctx, cr.Name)
	if err != nil {
		_ = st.Close()
		return Current{}, fmt.Errorf("no stored token for %q: %w", cr.Name, err)
	}
	tok, what := rec.AccessToken, "access token"
	if refresh {
		tok, what = rec.RefreshToken, "refresh token"
	}
	if tok.IsZero() {
		_ = st.Close()
		return Current{}, fmt.Errorf("no stored %s for %q", what, cr.Name)
	}
	return Current{Token: tok, Record: &rec, Store: st}, nil
}

// accessTokenFromSinks reads the access token the daemon delivered to the
// credential's first file sink (raw or json).
func accessTokenFromSinks(cr *config.Credential) (secret.Secret, error) {
	for _, s := range cr.Sinks {
		if fc, ok := s.Options.(*file.Config); ok {
			return file.ReadAccessToken(fc.Path, fc.Format)
		}
	}
	return secret.Secret{}, errors.New("a running tokend holds the state store and the credential has no file sink to read the access token from")
}

// MarkNeedsReauth saves rec in st marked needs_reauth, with a permanent
// error saying introspection reports its refresh token inactive, so status
// and the next tokend run say needs_reauth at once.
func MarkNeedsReauth(ctx context.Context, st *state.FileStore, rec state.Record, now time.Time) error {
	rec.Status = state.StatusNeedsReauth
	rec.LastError = &state.ErrorInfo{Class: string(grants.ClassPermanent), Code: "inactive_refresh_token", At: now.UTC(),
		Description: "introspection reports the refresh token inactive: run tokend authorize or tokend import"}
	return st.Save(ctx, rec)
}
