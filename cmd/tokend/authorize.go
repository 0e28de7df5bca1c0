package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tokend/tokend/internal/bootstrap"
	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/daemon"
	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/scheduler"
)

func cmdAuthorize(args []string, stdout, stderr io.Writer) int {
	return runAuthorize(args, os.Stdin, stdout, stderr)
}

// runAuthorize is `tokend authorize` with its input injected (tests).
func runAuthorize(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("authorize", "authorize NAME [--config FILE] [--code CODE|-|--device] [--no-pkce] [--listen-timeout 5m]", stdout, stderr)
	cfgPath := configFlag(fs, "config file")
	code := fs.String("code", "", `skip the loopback listener: "-" prints the URL and reads the code (or the callback URL) from stdin; any other value is a code obtained elsewhere`)
	noPKCE := fs.Bool("no-pkce", false, "do not send a PKCE challenge (for providers that reject it)")
	timeout := fs.Duration("listen-timeout", bootstrap.DefaultListenTimeout, "how long to wait for the redirect or the pasted code")
	device := fs.Bool("device", false, "device authorization grant (RFC 8628): print a URL and a code to enter on any device, then wait for the approval")
	name, code2, ok := parseWithName(fs, args)
	if !ok {
		return code2
	}
	if *device && *code != "" {
		fmt.Fprintln(stderr, "tokend authorize: --device and --code exclude each other")
		return 2
	}
	ctx, stop := signalContext()
	defer stop()
	cfg, cr, err := loadCredential(ctx, *cfgPath, name, true, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "tokend authorize: %v\n", err)
		return 1
	}
	if !cr.GrantKind().NeedsBootstrap {
		fmt.Fprintf(stderr, "tokend authorize: credential %q uses %s: it needs no authorization; tokend run obtains its tokens\n", name, cr.Grant)
		return 1
	}
	client, err := grants.New(cr.GrantsConfig())
	if err == nil {
		err = bootstrap.Preflight(cfg, bootstrap.StoreOptions{}) // before a code is spent
	}
	if err != nil {
		fmt.Fprintf(stderr, "tokend authorize: %v\n", err)
		return 1
	}
	var where bootstrap.Where
	var saved grants.Token
	store := func(ctx context.Context, tok grants.Token) error {
		if filled, ierr := client.FillExpiry(ctx, tok); ierr != nil { // no expiry in the answer: ask introspection
			fmt.Fprintf(stderr, "note: %v\n", ierr)
		} else {
			tok = filled
		}
		w, serr := bootstrap.Store(ctx, cfg, name, bootstrap.FromToken(tok), bootstrap.StoreOptions{})
		where, saved = w, tok
		return serr
	}
	if *device {
		_, err = bootstrap.AuthorizeDevice(ctx, cr, client, bootstrap.DeviceOptions{Out: stdout, Log: stderr, Store: store})
	} else {
		_, err = bootstrap.Authorize(ctx, cr, client, bootstrap.AuthorizeOptions{
			Code: *code, NoPKCE: *noPKCE, ListenTimeout: *timeout, Out: stdout, Log: stderr, In: stdin, Store: store,
		})
	}
	if err != nil {
		fmt.Fprintf(stderr, "tokend authorize: credential %q: %v\n", name, err)
		return 1
	}
	reportStored(stderr, name, where, bootstrap.FromToken(saved))
	return 0
}

// reportStored tells the operator what was stored, by fingerprint only.
func reportStored(w io.Writer, name string, where bootstrap.Where, tok scheduler.ImportedToken) {
	fmt.Fprintf(w, "stored tokens for %q in the %s", name, where)
	if !tok.RefreshToken.IsZero() {
		fmt.Fprintf(w, "; refresh token %s", tok.RefreshToken.Fingerprint())
	}
	if !tok.AccessToken.IsZero() {
		fmt.Fprintf(w, "; access token %s", tok.AccessToken.Fingerprint())
		if !tok.ExpiresAt.IsZero() {
			fmt.Fprintf(w, " expires %s", tok.ExpiresAt.UTC().Format(time.RFC3339))
		}
	}
	if tok.Scope != "" {
		fmt.Fprintf(w, "; scope %q", tok.Scope)
	}
	fmt.Fprintln(w)
	if tok.RefreshToken.IsZero() {
		fmt.Fprintf(w, "warning: no refresh token was issued; tokend cannot renew %q once the access token expires\n", name)
	}
	switch where {
	case bootstrap.Direct:
		fmt.Fprintln(w, "tokend run picks them up at start-up")
	case bootstrap.InVault:
		fmt.Fprintln(w, "replicas starting later load them; running replicas adopt them when they next re-check the store")
	}
}

// loadCredential loads the config through daemon.LoadConfig for the named
// credential (unreadable secrets are fatal when needSecrets, else a
// warning), printing warnings to stderr.
func loadCredential(ctx context.Context, path, name string, needSecrets bool, stderr io.Writer) (*config.Config, *config.Credential, error) {
	opts := daemon.LoadOptions{Credential: name, Warn: func(w string) { fmt.Fprintf(stderr, "warning: %s\n", w) }}
	if !needSecrets {
		opts.SecretsUnreadable = func(err error) { fmt.Fprintf(stderr, "warning: %v\n", err) }
	}
	cfg, err := daemon.LoadConfig(ctx, path, opts)
	if err != nil {
		return nil, nil, err
	}
	cr, _ := cfg.Credential(name)
	return cfg, cr, nil
}

// parseWithName parses flags around exactly one positional NAME, which may
// come before, between or after the flags.
func parseWithName(fs *flagSet, args []string) (string, int, bool) {
	var names []string
	for {
		if code, ok := parse(fs, args); !ok {
			return "", code, false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		names = append(names, rest[0])
		args = rest[1:]
	}
	if len(names) != 1 || strings.HasPrefix(names[0], "-") {
		fmt.Fprintln(fs.Output(), errors.New("exactly one credential NAME is required"))
		fs.Usage()
		return "", 2, false
	}
	return names[0], 0, true
}
