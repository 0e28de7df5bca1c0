package vaulttest

import (
	"context"
	"os"
	"path/filepath"

	"github.com/tokend/tokend/internal/vaultclient"
)

// TokendClient returns tokend's own Vault client (internal/vaultclient, token
// auth) for this server, logged in with token through a 0600 token file in
// a temporary directory, as an operator would configure it. It fails the
// test on error.
func (s *Server) TokendClient(token string) *vaultclient.Client {
	s.t.Helper()
	fn := filepath.Join(s.t.TempDir(), "token")
	if err := os.WriteFile(fn, []byte(token+"\n"), 0o600); err != nil {
		s.t.Fatal(err)
	}
	c, err := vaultclient.New(context.Background(), vaultclient.Config{Address: s.Addr, CACert: s.CACert, Auth: "token", TokenFile: fn}, nil)
	if err != nil {
		s.t.Fatalf("vault client: %v", err)
	}
	return c
}
