// Package deploy holds no code: its tests check tokend's deployment
// artifacts without a cluster or a running systemd — the systemd unit
// (../systemd/tokend.service) with systemd-analyze and a directive-by-directive
// check, the Kubernetes manifests (kubernetes/) decoded strictly into the
// Kubernetes API types, and the Dockerfile.
package deploy
