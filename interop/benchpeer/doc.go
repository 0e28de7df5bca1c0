// Package benchpeer holds no code: its test runs tokend-bench's side-by-side
// comparison with Vault's oauthapp secrets plugin (internal/bench, -peer
// oauthapp) in a tiny configuration: the plugin built by scripts/oauthapp-bin
// and mounted on a real Vault dev server (scripts/vault-bin), tokend with
// Vault KV sinks on a second one, both on the same strict fake provider.
package benchpeer
