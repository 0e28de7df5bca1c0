package main

import (
	"fmt"
	"io"

	"github.com/tokend/tokend/internal/demo"
)

func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("demo", "demo [--dir DIR] [--ttl 30s] [--log-level LEVEL] [--log-format json|console]", stdout, stderr)
	dir := fs.String("dir", "tokend-demo", "directory for the demo's provider records, state, config and sinks")
	ttl := fs.Duration("ttl", 0, "access-token lifetime of the embedded provider (default 30s)")
	every := fs.Duration("status-every", 0, "how often to print the status table (default 10s)")
	newLogger := logFlags(fs)
	if code, ok := parseNoArgs(fs, args); !ok {
		return code
	}
	log, err := newLogger(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "tokend: %v\n", err)
		return 2
	}
	defer func() { _ = log.Sync() }()
	ctx, stop := signalContext()
	defer stop()
	if err := demo.Run(ctx, demo.Options{Dir: *dir, AccessTTL: *ttl, StatusEvery: *every}, log, stdout); err != nil {
		fmt.Fprintf(stderr, "tokend demo: %v\n", err)
		return 1
	}
	return 0
}
