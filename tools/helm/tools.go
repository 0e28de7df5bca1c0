//go:build tools

// Package tools pins helm.sh/helm/v4/cmd/helm for scripts/helm-bin.
package tools

import _ "helm.sh/helm/v4/cmd/helm"
