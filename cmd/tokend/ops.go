package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/daemon"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/status"
)

// Exit codes of the operations commands (README "Operations").
const (
	exitOK          = 0
	exitError       = 1 // daemon unreachable, request refused, bad config
	exitUsage       = 2
	exitNeedsReauth = 3 // tokend status: some credential needs re-authorization
	exitSinkStale   = 5 // tokend status: a failing sink's token expires within a minute or has expired
)

// reloadOnHangup reloads the daemon's config on every SIGHUP until ctx ends
// or the returned stop is called. Reload logs its own outcome.
func reloadOnHangup(ctx context.Context, d *daemon.Daemon) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = d.Reload(ctx)
			}
		}
	}()
	return func() { signal.Stop(hup); cancel(); <-done }
}

// opsClient finds the running daemon through the config's [status] listen
// and state.dir (only those tables are read).
func opsClient(cfgPath string, stderr io.Writer) (*status.Client, bool) {
	listen, stateDir, err := config.LoadStatus(cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "tokend: %v\n", err)
		return nil, false
	}
	c, err := status.NewClient(listen, config.AdminTokenPath(stateDir))
	if err != nil {
		fmt.Fprintf(stderr, "tokend: %v\n", err)
		return nil, false
	}
	return c, true
}

func cmdStatus(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("status", "status [--config FILE] [-o table|json] [--wide] [--sinks] [--web [--web-listen ADDR]]", stdout, stderr)
	cfgPath := configFlag(fs, "config file (its [status] listen and state.dir locate the daemon)")
	output := fs.String("o", "table", "output format: table or json")
	sinks := fs.Bool("sinks", false, "table: also list every sink (failing sinks are always listed)")
	wide := fs.Bool("wide", false, "table: add generation and token fingerprint, show the last error whole")
	web := fs.Bool("web", false, "serve the daemon's status page on a loopback URL (printed) until interrupted; works with a unix-socket listener")
	webListen := fs.String("web-listen", "127.0.0.1:0", "--web: loopback address to serve the page on")
	if code, ok := parseNoArgs(fs, args); !ok {
		return code
	}
	if *web {
		return statusWeb(*cfgPath, *webListen, stdout, stderr)
	}
	if *output != "table" && *output != "json" {
		fmt.Fprintf(stderr, "tokend status: unknown output format %q (table or json)\n", *output)
		return exitUsage
	}
	c, ok := opsClient(*cfgPath, stderr)
	if !ok {
		return exitError
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	sts, err := c.Credentials(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "tokend status: %v\n", err)
		return exitError
	}
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(sts)
	} else {
		printTable(stdout, sts, time.Now(), *wide)
		printRefreshTokens(stdout, sts, time.Now())
		printSinks(stdout, sts, time.Now(), *sinks)
	}
	return statusExit(sts, time.Now())
}

// statusWeb is tokend status --web: it proxies the daemon's status page
// (read-only) on a loopback URL, printed on stdout, until SIGINT or SIGTERM.
func statusWeb(cfgPath, listen string, stdout, stderr io.Writer) int {
	c, ok := opsClient(cfgPath, stderr)
	if !ok {
		return exitError
	}
	ctx, cancel := signalContext()
	defer cancel()
	err := c.ServeWeb(ctx, listen, func(url string) {
		fmt.Fprintf(stdout, "tokend status page: %s (Ctrl-C to stop)\n", url)
	})
	if err != nil {
		fmt.Fprintf(stderr, "tokend status: %v\n", err)
		return exitError
	}
	return exitOK
}

// statusExit is tokend status's exit code: exitNeedsReauth when a
// credential needs re-authorization, else exitSinkStale when a failing
// sink's token expires within status.SinkExpiryMargin or has expired (what
// makes /readyz answer 503 for it), else exitOK.
func statusExit(sts []scheduler.CredentialStatus, now time.Time) int {
	for _, st := range sts {
		if st.Status == state.StatusNeedsReauth {
			return exitNeedsReauth
		}
	}
	for _, st := range sts {
		if status.SinkProblem(st, now) != "" {
			return exitSinkStale
		}
	}
	return exitOK
}

// printSinks prints, after a blank line, the sinks of sts (all of them, or
// only those whose last write failed): the last successful write apart from
// the last attempt, and the expiry of the token the sink holds. It prints
// nothing when there is no such sink.
func printSinks(w io.Writer, sts []scheduler.CredentialStatus, now time.Time, all bool) {
	var rows []string
	for _, st := range sts {
		for _, sk := range st.Sinks {
			if !all && (sk.OK || sk.LastError == "") {
				continue
			}
			shown := "ok"
			if !sk.OK {
				shown = "failing"
			}
			if sk.LastAttempt.IsZero() {
				shown = "pending"
			}
			rows = append(rows, fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", st.Name, sk.Name, shown,
				relative(now, sk.LastSuccess), relative(now, sk.LastAttempt), relative(now, sk.ExpiresAt)))
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "CREDENTIAL\tSINK\tSINK-STATUS\tLAST-SUCCESS\tLAST-ATTEMPT\tTOKEN-EXPIRES")
	for _, r := range rows {
		fmt.Fprintln(tw, r)
	}
	_ = tw.Flush()
}

// printRefreshTokens prints, after a blank line, the credentials whose
// provider announced when their refresh token expires (GitHub's
// refresh_token_expires_in), with that expiry (tokend refreshes an idle
// credential ahead of it: scheduler.KeepAlive). Nothing when no credential
// has one.
func printRefreshTokens(w io.Writer, sts []scheduler.CredentialStatus, now time.Time) {
	var rows []string
	for _, st := range sts {
		if st.RefreshTokenExpiresAt.IsZero() {
			continue
		}
		rows = append(rows, fmt.Sprintf("%s	%s", st.Name, relative(now, st.RefreshTokenExpiresAt)))
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "CREDENTIAL	REFRESH-TOKEN-EXPIRES")
	for _, r := range rows {
		fmt.Fprintln(tw, r)
	}
	_ = tw.Flush()
}

// printTable prints credentials like `kubectl get`, as `tokend demo` does
// (status.WriteTable); wide adds the generation and token fingerprint and
// shows the last error whole.
func printTable(w io.Writer, sts []scheduler.CredentialStatus, now time.Time, wide bool) {
	status.WriteTable(w, sts, now, wide)
}

// relative renders t as "in 42m", "3m ago" or "-".
func relative(now, t time.Time) string { return status.Relative(now, t) }

func cmdRefresh(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("refresh", "refresh [--config FILE] [--wait 30s] NAME", stdout, stderr)
	cfgPath := configFlag(fs, "config file (its [status] listen and state.dir locate the daemon)")
	wait := fs.Duration("wait", 30*time.Second, "wait this long for the refresh to finish (0: just request it)")
	name, code, ok := parseName(fs, args)
	if !ok {
		return code
	}
	c, ok := opsClient(*cfgPath, stderr)
	if !ok {
		return exitError
	}
	ctx, cancel := context.WithTimeout(context.Background(), *wait+15*time.Second)
	defer cancel()
	before, err := c.Credential(ctx, name)
	if err == nil {
		err = c.Refresh(ctx, name)
	}
	if err != nil {
		fmt.Fprintf(stderr, "tokend refresh: %v\n", err)
		return exitError
	}
	requested := time.Now()
	if *wait <= 0 {
		fmt.Fprintf(stdout, "%s: refresh requested\n", name)
		return exitOK
	}
	return reportRefresh(ctx, c, before, requested, *wait, stdout, stderr)
}

// reportRefresh waits for the outcome of the refresh requested at requested
// (status.Client.AwaitRefresh), prints it and returns the exit code.
func reportRefresh(ctx context.Context, c *status.Client, before scheduler.CredentialStatus, requested time.Time, wait time.Duration, stdout, stderr io.Writer) int {
	st, err := c.AwaitRefresh(ctx, before, requested, wait)
	switch {
	case err == nil:
		fmt.Fprintf(stdout, "%s: refreshed (generation %d, expires %s)\n", st.Name, st.Generation, relative(time.Now(), st.ExpiresAt))
		return exitOK
	case errors.Is(err, status.ErrRefreshFailed):
		fmt.Fprintf(stderr, "tokend refresh: %s: %s (%s)\n", st.Name, status.LastError(st, 0), st.Status)
		if st.Status == state.StatusNeedsReauth {
			return exitNeedsReauth
		}
		return exitError
	case errors.Is(err, status.ErrRefreshPending):
		fmt.Fprintf(stderr, "tokend refresh: %s: refresh requested but not finished after %s (see tokend status)\n", before.Name, wait)
		return exitError
	default:
		fmt.Fprintf(stderr, "tokend refresh: %v\n", err)
		return exitError
	}
}

func cmdReload(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("reload", "reload [--config FILE]", stdout, stderr)
	cfgPath := configFlag(fs, "config file (its [status] listen and state.dir locate the daemon)")
	if code, ok := parseNoArgs(fs, args); !ok {
		return code
	}
	c, ok := opsClient(*cfgPath, stderr)
	if !ok {
		return exitError
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Reload(ctx); err != nil {
		var ae *status.APIError
		if errors.As(err, &ae) {
			fmt.Fprintf(stderr, "tokend reload: %s\n", ae.Message)
		} else {
			fmt.Fprintf(stderr, "tokend reload: %v\n", err)
		}
		return exitError
	}
	sts, err := c.Credentials(ctx)
	if err != nil {
		fmt.Fprintf(stdout, "reloaded\n")
		return exitOK
	}
	fmt.Fprintf(stdout, "reloaded: %d credentials\n", len(sts))
	return exitOK
}
