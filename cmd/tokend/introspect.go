package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/tokend/tokend/internal/bootstrap"
	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/state"
)

// exitInactive is the exit status of `tokend introspect` when the provider
// reports the token inactive.
const exitInactive = 3

// cmdIntrospect asks the credential's introspection endpoint (RFC 7662)
// about its current access token, or with --refresh-token its refresh
// token. Exit 0: active; 3: inactive (needs re-authorization); 1: error.
func cmdIntrospect(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("introspect", "introspect NAME [--config FILE] [--refresh-token]", stdout, stderr)
	cfgPath := configFlag(fs, "config file")
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
	cur, err := bootstrap.ReadCurrent(ctx, cfg, cr, *refresh)
	if err != nil {
		fmt.Fprintf(stderr, "tokend introspect: %v\n", err)
		return 1
	}
	tok, rec, st := cur.Token, cur.Record, cur.Store
	if st != nil {
		defer st.Close()
	}
	hint := grants.HintAccessToken
	if *refresh {
		hint = grants.HintRefreshToken
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

// markNeedsReauth records that the provider no longer knows the refresh
// token, so status and the next tokend run say needs_reauth at once.
func markNeedsReauth(ctx context.Context, st *state.FileStore, rec state.Record, stderr io.Writer) {
	if err := bootstrap.MarkNeedsReauth(ctx, st, rec, time.Now()); err != nil {
		fmt.Fprintf(stderr, "warning: could not mark the credential needs_reauth: %v\n", err)
		return
	}
	fmt.Fprintln(stderr, "marked the credential needs_reauth in the state store")
}
