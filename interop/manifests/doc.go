// Package manifests holds no code: its tests decode tokend's Kubernetes
// manifests (../../deploy/kubernetes) strictly into the Kubernetes API types,
// check that the ConfigMap's tokend.toml validates, and check the Dockerfile
// the Deployment runs — no cluster needed. It lives in the interop module so
// that k8s.io/api and sigs.k8s.io/yaml stay out of tokend's go.mod.
package manifests
