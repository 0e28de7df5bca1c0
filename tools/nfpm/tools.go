//go:build tools

// Package tools pins github.com/goreleaser/nfpm/v2/cmd/nfpm for scripts/nfpm-bin.
package tools

import _ "github.com/goreleaser/nfpm/v2/cmd/nfpm"
