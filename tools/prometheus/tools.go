//go:build tools

// Package tools pins the Prometheus commands for scripts/prometheus-bin.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/prometheus"
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
