// Command tokend keeps API credentials alive: it refreshes OAuth tokens before
// they expire, rotates single-use refresh tokens durably, and writes the
// current access token to sinks other services read.
//
// This file only parses flags and wires packages together.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/tokend/tokend/internal/buildinfo"
)

const defaultConfig = "/etc/tokend/tokend.toml"

type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"run", "run the daemon", cmdRun},
		{"validate", "check a config file and report every problem", cmdValidate},
		{"demo", "run tokend against an embedded local OAuth provider", cmdDemo},
		{"authorize", "get a credential's first tokens in a browser (authorization code + PKCE)", cmdAuthorize},
		{"import", "store a refresh token or token JSON read from stdin or a file", cmdImport},
		{"introspect", "ask the provider whether a credential's token is active (RFC 7662)", cmdIntrospect},
		{"status", "show the running daemon's credentials (exit 3: some need re-authorization)", cmdStatus},
		{"refresh", "make the running daemon refresh a credential now", cmdRefresh},
		{"token", "print a credential's current access token (or --header line) from the running daemon", cmdToken},
		{"reload", "make the running daemon re-read its config", cmdReload},
		{"store", "check, back up or restore the state store (exit 4: damaged)", cmdStore},
		{"version", "print the version, VCS revision and Go version", cmdVersion},
		{"completion", "print a shell completion script: bash, zsh or fish", cmdCompletion},
	}
}

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0:
		usage(stderr)
		return 2
	case args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help":
		usage(stdout)
		return 0
	case args[0] == "--version" || args[0] == "-version":
		return cmdVersion(args[1:], stdout, stderr)
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "tokend: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: tokend <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'tokend <command> -h' for the flags of a command. --config (-c) defaults to $"+configEnv+" when set.")
}

// signalContext is cancelled by SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func cmdVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("version", "version", stdout, stderr)
	if code, ok := parseNoArgs(fs, args); !ok {
		return code
	}
	fmt.Fprintln(stdout, buildinfo.Read())
	return 0
}
