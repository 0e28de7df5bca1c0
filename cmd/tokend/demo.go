package main

import (
	"fmt"
	"io"

	"github.com/tokend/tokend/internal/demo"
	"github.com/tokend/tokend/internal/logging"
)

func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("demo", "demo [--dir DIR] [--ttl 30s] [--log-level LEVEL]", stderr)
	dir := fs.String("dir", "tokend-demo", "directory for the demo's provider records, state, config and sinks")
	ttl := fs.Duration("ttl", 0, "access-token lifetime of the embedded provider (default 30s)")
	every := fs.Duration("status-every", 0, "how often to print the status table (default 10s)")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	log, err := logging.New(stderr, *level)
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
