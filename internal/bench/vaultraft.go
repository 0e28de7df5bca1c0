package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
)

// writeRaftConfig writes the configuration of a single-node Vault server
// listening on addr (plain HTTP) with Raft storage under dir, which fsyncs
// every write as a production Vault does (the dev server keeps everything
// in memory). pluginDir, if set, is its plugin_directory.
func writeRaftConfig(dir, addr, pluginDir string) (string, error) {
	data := filepath.Join(dir, "raft")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return "", err
	}
	cluster, err := freeAddr()
	if err != nil {
		return "", err
	}
	cfg := fmt.Sprintf("storage \"raft\" {\n  path = %q\n  node_id = \"bench\"\n}\n"+
		"listener \"tcp\" {\n  address = %q\n  cluster_address = %q\n  tls_disable = true\n}\n"+
		"api_addr = \"http://%s\"\ncluster_addr = \"http://%s\"\ndisable_mlock = true\n",
		data, addr, cluster, addr, cluster)
	if pluginDir != "" {
		cfg += fmt.Sprintf("plugin_directory = %q\n", pluginDir)
	}
	path := filepath.Join(dir, "vault.hcl")
	return path, os.WriteFile(path, []byte(cfg), 0o600)
}

// initRaft initialises the fresh server with one key share, unseals it,
// waits until it is the active node, mounts KV v2 at secret/ (what the dev
// server has) and registers the plugin of pluginDir, if any, in the catalog.
func (v *vaultServer) initRaft(pluginDir string) error {
	if err := v.waitHealth(http.StatusNotImplemented, http.StatusServiceUnavailable, http.StatusOK); err != nil {
		return err
	}
	var init struct {
		Keys      []string `json:"keys_base64"`
		RootToken string   `json:"root_token"`
	}
	if err := v.doRaw(http.MethodPut, "sys/init", map[string]any{"secret_shares": 1, "secret_threshold": 1}, &init); err != nil {
		return err
	}
	if len(init.Keys) != 1 || init.RootToken == "" {
		return fmt.Errorf("vault init: no unseal key or root token")
	}
	v.Token = init.RootToken
	if err := v.doRaw(http.MethodPut, "sys/unseal", map[string]any{"key": init.Keys[0]}, nil); err != nil {
		return err
	}
	if err := v.waitHealth(http.StatusOK); err != nil {
		return err
	}
	if err := v.do(http.DefaultClient, http.MethodPost, "sys/mounts/secret", map[string]any{"type": "kv", "options": map[string]string{"version": "2"}}, nil); err != nil {
		return err
	}
	if pluginDir == "" {
		return nil
	}
	f, err := os.Open(filepath.Join(pluginDir, oauthappPlugin))
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	return v.do(http.DefaultClient, http.MethodPut, "sys/plugins/catalog/secret/"+oauthappPlugin,
		map[string]any{"sha256": hex.EncodeToString(h.Sum(nil)), "command": oauthappPlugin}, nil)
}

// doRaw is do for the unauthenticated sys/init and sys/unseal, whose
// answers are not wrapped in "data".
func (v *vaultServer) doRaw(method, path string, body, out any) error {
	tok := v.Token
	v.Token = ""
	defer func() { v.Token = tok }()
	return v.do(http.DefaultClient, method, path, body, rawOut{out})
}

// rawOut marks an out value that do decodes from the whole answer.
type rawOut struct{ v any }
