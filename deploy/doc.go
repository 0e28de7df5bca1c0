// Package deploy holds no code: its tests check the systemd unit
// (../systemd/tokend.service) without a running systemd, with
// systemd-analyze and a directive-by-directive check, and the Prometheus
// alert rules (prometheus/) with `promtool check rules` and `promtool test
// rules` (promtool from scripts/prometheus-bin). The Kubernetes
// manifests (kubernetes/) and the Dockerfile are checked by
// interop/manifests, a module apart because it needs the Kubernetes API types.
package deploy
