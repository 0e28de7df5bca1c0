package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tokend/tokend/internal/sinks"
	"github.com/tokend/tokend/internal/status"
)

// cmdToken prints a credential's current access token, read from the
// running daemon over the admin API, for scripts: curl -H "Authorization:
// Bearer $(tokend token app)". Exit 3 when the daemon has no usable token
// for it (needs re-authorization, none yet, expired); 1 when the daemon is
// not reachable or refuses. The token goes to stdout only.
func cmdToken(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("token", "token [--config FILE] [--header] NAME", stdout, stderr)
	cfgPath := configFlag(fs, "config file (its [status] listen and state.dir locate the daemon)")
	header := fs.Bool("header", false, "print an HTTP header line: Authorization: <token type> <token>")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	name := fs.Arg(0)
	if rest := fs.Args(); len(rest) > 1 { // flags after the name
		if code, ok := parse(fs, rest[1:]); !ok {
			return code
		}
	}
	if name == "" || fs.NArg() > 1 {
		fs.Usage()
		return exitUsage
	}
	c, ok := opsClient(*cfgPath, stderr)
	if !ok {
		return exitError
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	tok, err := c.Token(ctx, name)
	switch {
	case errors.Is(err, status.ErrNoToken):
		fmt.Fprintf(stderr, "tokend token: %v\n", err)
		return exitNeedsReauth
	case errors.Is(err, status.ErrUnreachable):
		fmt.Fprintf(stderr, "tokend token: %v (is `tokend run` running with this config's [status] listen?)\n", err)
		return exitError
	case err != nil:
		fmt.Fprintf(stderr, "tokend token: %v\n", err)
		return exitError
	}
	if *header {
		fmt.Fprintf(stdout, "Authorization: %s %s\n", sinks.AuthScheme(tok.TokenType), tok.AccessToken.Reveal())
		return exitOK
	}
	fmt.Fprintln(stdout, tok.AccessToken.Reveal())
	return exitOK
}
