package demo

import (
	"fmt"
	"io"
	"net"
)

// statusTable returns the demo config's [status] table on a free loopback
// port, so `tokend status --config tokend-demo/tokend.toml` finds the demo.
func statusTable() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port for the status server: %w", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", err
	}
	return fmt.Sprintf("\n[status]\nlisten = %q\n", addr), nil
}

// printStatusURL tells the user where the status server is.
func printStatusURL(out io.Writer, addr, cfgPath string) {
	if addr == "" {
		return
	}
	fmt.Fprintf(out, "status: http://%s/v1/credentials  (also /metrics, /readyz; or: tokend status --config %s)\n", addr, cfgPath)
}
