package config

import (
	"strings"
	"testing"
)

func TestStateEncryptionKeyFile(t *testing.T) {
	sink := "\n  [[credential.sink]]\n  type = \"file\"\n  path = \"/run/tokend/api\"\n"
	cfg, err := Decode([]byte("[state]\nencryption_key_file = \"/etc/tokend/state.key\"\n" + vaultBase + sink))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.State.EncryptionKeyFile != "/etc/tokend/state.key" {
		t.Fatalf("encryption_key_file = %q", cfg.State.EncryptionKeyFile)
	}
	_, err = Decode([]byte(`[vault]
address = "https://vault.example:8200"
auth = "kubernetes"
role = "tokend"
[state]
backend = "vault"
encryption_key_file = "/k"
` + vaultBase + sink))
	if err == nil || !strings.Contains(err.Error(), "state.encryption_key_file: applies to the file backend only") {
		t.Fatalf("vault backend with a key file: %v", err)
	}
}
