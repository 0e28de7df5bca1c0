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
	return s.TokendClientAt(s.Addr, token)
}

// TokendClientAt is TokendClient talking to addr (a CountingProxy's).
func (s *Server) TokendClientAt(addr, token string) *vaultclient.Client {
	s.t.Helper()
	fn := filepath.Join(s.t.TempDir(), "token")
	if err := os.WriteFile(fn, []byte(token+"\n"), 0o600); err != nil {
		s.t.Fatal(err)
	}
	ca := s.CACert // a CountingProxy's address is plain HTTP
	if addr != s.Addr {
		ca = ""
	}
	c, err := vaultclient.New(context.Background(), vaultclient.Config{Address: addr, CACert: ca, Auth: "token", TokenFile: fn}, nil)
	if err != nil {
		s.t.Fatalf("vault client: %v", err)
	}
	return c
}
