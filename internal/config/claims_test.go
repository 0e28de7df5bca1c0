package config

import (
	"strings"
	"testing"
	"time"
)

const claimsVault = `
[vault]
address = "https://vault.example:8200"
token_file = "/t"
`

// TestClaimKeys: claim_ttl defaults to 10s with the vault backend, owner is
// kept as written, and both are validated.
func TestClaimKeys(t *testing.T) {
	sink := `
  [[credential.sink]]
  type = "file"
  path = "/run/x"
`
	cfg, err := Decode([]byte(claimsVault + "[state]\nbackend = \"vault\"\n" + vaultBase + sink))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.State.ClaimTTL.Duration != 10*time.Second || cfg.State.Owner != "" {
		t.Fatalf("defaults: claim_ttl %v, owner %q", cfg.State.ClaimTTL, cfg.State.Owner)
	}
	cfg, err = Decode([]byte(claimsVault + "[state]\nbackend = \"vault\"\nclaim_ttl = \"30s\"\nowner = \"pod-a\"\n" + vaultBase + sink))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.State.ClaimTTL.Duration != 30*time.Second || cfg.State.Owner != "pod-a" {
		t.Fatalf("set: claim_ttl %v, owner %q", cfg.State.ClaimTTL, cfg.State.Owner)
	}
	for name, tc := range map[string]struct{ toml, want string }{
		"ttl too short": {claimsVault + "[state]\nbackend = \"vault\"\nclaim_ttl = \"1s\"\n", "state.claim_ttl: 1s is out of range (3s to 10m0s)"},
		"ttl too long":  {claimsVault + "[state]\nbackend = \"vault\"\nclaim_ttl = \"1h\"\n", "state.claim_ttl: 1h0m0s is out of range"},
		"owner control": {claimsVault + "[state]\nbackend = \"vault\"\nowner = \"a\\nb\"\n", "state.owner: must be at most 200 printable characters"},
		"file backend":  {"[state]\nclaim_ttl = \"30s\"\n", "state.claim_ttl: claim_ttl and owner are only used with backend = \"vault\""},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Decode([]byte(tc.toml + vaultBase + sink))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %q, got %v", tc.want, err)
			}
		})
	}
}
