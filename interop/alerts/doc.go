// Package alerts holds no code: its test runs a real Prometheus server
// (scripts/prometheus-bin) that scrapes a running tokend on loopback with the
// alert rules of deploy/prometheus loaded, and waits for the needs-reauth
// alert of a credential the strict fake provider has revoked. The rules'
// unit tests (promtool test rules) are in the root module's deploy package.
package alerts
