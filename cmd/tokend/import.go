package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/tokend/tokend/internal/bootstrap"
	"github.com/tokend/tokend/internal/grants"
)

func cmdImport(args []string, stdout, stderr io.Writer) int {
	return runImport(args, os.Stdin, stdout, stderr)
}

// runImport is `tokend import` with its input injected (tests). The token
// is read from stdin or --from-file, never from the command line, where it
// would end up in shell history and the process list.
func runImport(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("import", "import NAME [--config FILE] [--from-file PATH]   (token on stdin: a refresh token line or a token JSON)", stdout, stderr)
	cfgPath := configFlag(fs, "config file")
	from := fs.String("from-file", "", "read the token from this file instead of stdin")
	name, code, ok := parseWithName(fs, args)
	if !ok {
		return code
	}
	ctx, stop := signalContext()
	defer stop()
	cfg, cr, err := loadCredential(ctx, *cfgPath, name, false, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "tokend import: %v\n", err)
		return 1
	}
	if !cr.GrantKind().NeedsBootstrap {
		fmt.Fprintf(stderr, "tokend import: credential %q uses %s: tokend obtains its tokens by itself\n", name, cr.Grant)
		return 1
	}
	data, err := readToken(*from, stdin, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "tokend import: %v\n", err)
		return 1
	}
	now := time.Now()
	im, err := bootstrap.ParseImport(data, now)
	if err != nil {
		fmt.Fprintf(stderr, "tokend import: %v\n", err)
		return 1
	}
	client, err := grants.New(cr.GrantsConfig())
	if err != nil {
		fmt.Fprintf(stderr, "tokend import: %v\n", err)
		return 1
	}
	if note := bootstrap.CompleteExpiry(ctx, client, &im, now); note != "" {
		fmt.Fprintf(stderr, "note: %s\n", note)
	}
	if im.Token.RefreshToken.IsZero() && im.Token.AccessToken.IsZero() {
		fmt.Fprintln(stderr, "tokend import: nothing left to store")
		return 1
	}
	where, err := bootstrap.Store(ctx, cfg, name, im.Token, bootstrap.StoreOptions{})
	if err != nil {
		fmt.Fprintf(stderr, "tokend import: credential %q: %v\n", name, err)
		return 1
	}
	reportStored(stderr, name, where, im.Token)
	return 0
}

// readToken reads the token input, at most 64 KiB and a byte.
func readToken(path string, stdin io.Reader, stderr io.Writer) ([]byte, error) {
	var r io.Reader = stdin
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o077 != 0 {
			fmt.Fprintf(stderr, "warning: %s is readable by group/other (mode %#o); delete it once imported\n", path, fi.Mode().Perm())
		}
		r = f
	} else if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintln(stderr, "Paste the refresh token (one line) or the token JSON; it is not shown:")
		return bootstrap.ReadHidden(int(f.Fd()), 64<<10) // no echo: the token stays off the screen and scrollback
	}
	data, err := io.ReadAll(io.LimitReader(r, 64<<10+1))
	if err != nil {
		return nil, fmt.Errorf("reading the token: %w", err)
	}
	return data, nil
}
