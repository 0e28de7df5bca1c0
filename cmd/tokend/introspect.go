package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/sinks/file"
	"github.com/tokend/tokend/internal/state"
)

// exitInactive is the exit status of `tokend introspect` when the provider
// reports the token inactive.
const exitInactive = 3

// cmdIntrospect asks the credential's introspection endpoint (RFC 7662)
// about its current access token, or with --refresh-token its refresh
// token. Exit 0: active; 3: inactive (needs re-authorization); 1: error.
func cmdIntrospect(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("introspect", "introspect NAME [--config FILE] [--refresh-token]", stderr)
	cfgPath := fs.String("config", defaultConfig, "config file")
	refresh := fs.Bool("refresh-token", false, "introspect the stored refresh token (needs the state store: tokend run must be stopped)")
	name, code, ok := parseWithName(fs, args)
	if !ok {
		return code
	}
	ctx, stop := signalContext()
	defer stop()
	cfg, cr, err := loadCredential(ctx, *cfgPath, name, true, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "tokend introspect: %v\n", err)
		return 1
	}
	client, err := grants.New(cr.GrantsConfig())
	if err == nil && !client.CanIntrospect() {
		err = fmt.Errorf("credential %q has no introspection_url (set it, or a provider preset or issuer that has one)", name)
	}
	if err != nil {
		fmt.Fprintf(stderr, "tokend introspect: %v\n", err)
		return 1
	}
	tok, rec, st, err := tokenToIntrospect(ctx, cfg, cr, *refresh)
	if err != nil {
		fmt.Fprintf(stderr, "tokend introspect: %v\n", err)
		return 1
	}
	if st != nil {
		defer st.Close()
	}
	hint := "access_token"
	if *refresh {
		hint = "refresh_token"
	}
	in, err := client.Introspect(ctx, tok, hint)
	if err != nil {
		fmt.Fprintf(stderr, "tokend introspect: %v\n", err)
		return 1
	}
	if in.Active {
		printIntrospection(stdout, name, hint, in)
		return 0
	}
	fmt.Fprintf(stdout, "%s: %s %s is not active\n", name, hint, tok.Fingerprint())
	if !*refresh && rec != nil && !rec.ExpiresAt.IsZero() && rec.ExpiresAt.Before(time.Now()) {
		fmt.Fprintln(stdout, "the stored access token has expired; if refreshing fails too, the credential needs re-authorization")
	} else {
		fmt.Fprintf(stdout, "needs re-authorization: run tokend authorize %s (or tokend import %s)\n", name, name)
	}
	if *refresh && st != nil && rec != nil {
		markNeedsReauth(ctx, st, *rec, stderr)
	}
	return exitInactive
}

func printIntrospection(w io.Writer, name, hint string, in grants.Introspection) {
	fmt.Fprintf(w, "%s: %s is active\n", name, hint)
	for _, f := range []struct{ k, v string }{
		{"scope", in.Scope}, {"client_id", in.ClientID}, {"username", in.Username}, {"subject", in.Subject}, {"token_type", in.TokenType},
	} {
		if f.v != "" {
			fmt.Fprintf(w, "  %-11s %s\n", f.k+":", f.v)
		}
	}
	if !in.ExpiresAt.IsZero() {
		fmt.Fprintf(w, "  %-11s %s (in %s)\n", "expires_at:", in.ExpiresAt.Format(time.RFC3339), time.Until(in.ExpiresAt).Round(time.Second))
	}
}

// tokenToIntrospect finds the token: from the state store when no daemon
// holds it (the store is returned open, for markNeedsReauth), else the
// access token from the credential's first file sink.
func tokenToIntrospect(ctx context.Context, cfg *config.Config, cr *config.Credential, refresh bool) (secret.Secret, *state.Record, *state.Store, error) {
	var st *state.Store
	err := state.ErrLocked // the vault backend is read by the daemon only
	if cfg.State.Backend != "vault" {
		st, err = state.Open(cfg.State.Dir, state.Options{EncryptionKeyFile: cfg.State.EncryptionKeyFile})
	}
	if errors.Is(err, state.ErrLocked) {
		if refresh {
			return secret.Secret{}, nil, nil, errors.New("a running tokend holds the state store, so the refresh token cannot be read; stop it first")
		}
		tok, err := tokenFromSink(cr)
		return tok, nil, nil, err
	}
	if err != nil {
		return secret.Secret{}, nil, nil, err
	}
	rec, err := st.Load(ctx, cr.Name)
	if err != nil {
		_ = st.Close()
		return secret.Secret{}, nil, nil, fmt.Errorf("no stored token for %q: %w", cr.Name, err)
	}
	tok, what := rec.AccessToken, "access token"
	if refresh {
		tok, what = rec.RefreshToken, "refresh token"
	}
	if tok.IsZero() {
		_ = st.Close()
		return secret.Secret{}, nil, nil, fmt.Errorf("no stored %s for %q", what, cr.Name)
	}
	return tok, &rec, st, nil
}

// tokenFromSink reads the access token the daemon delivered to the
// credential's first file sink (raw or json).
func tokenFromSink(cr *config.Credential) (secret.Secret, error) {
	for _, sc := range cr.Sinks {
		s, ok := sc.Options.(*file.Config)
		if !ok {
			continue
		}
		b, err := os.ReadFile(s.Path)
		if err != nil {
			return secret.Secret{}, fmt.Errorf("reading the access token from sink %s: %w", s.Path, err)
		}
		if s.Format == file.FormatJSON {
			var v struct {
				AccessToken string `json:"access_token"`
			}
			if json.Unmarshal(b, &v) != nil || v.AccessToken == "" {
				return secret.Secret{}, fmt.Errorf("sink %s holds no access_token", s.Path)
			}
			return secret.New(v.AccessToken), nil
		}
		return secret.New(strings.TrimSpace(string(b))), nil
	}
	return secret.Secret{}, errors.New("a running tokend holds the state store and the credential has no file sink to read the access token from")
}

// markNeedsReauth records that the provider no longer knows the refresh
// token, so status and the next tokend run say needs_reauth at once.
func markNeedsReauth(ctx context.Context, st *state.Store, rec state.Record, stderr io.Writer) {
	rec.Status = state.StatusNeedsReauth
	rec.LastError = &state.ErrorInfo{Class: string(grants.ClassPermanent), Code: "inactive_refresh_token", At: time.Now().UTC(),
		Description: "introspection reports the refresh token inactive: run tokend authorize or tokend import"}
	if err := st.Save(ctx, rec); err != nil {
		fmt.Fprintf(stderr, "warning: could not mark the credential needs_reauth: %v\n", err)
		return
	}
	fmt.Fprintln(stderr, "marked the credential needs_reauth in the state store")
}
