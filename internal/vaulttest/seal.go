package vaulttest

import (
	"regexp"
)

// unsealKeyRE finds the unseal key in the dev server's start-up banner.
var unsealKeyRE = regexp.MustCompile(`Unseal Key: (\S+)`)

// Seal seals the server (as `vault operator seal`): every request but
// sys/health and sys/unseal then fails with 503 until Unseal.
func (s *Server) Seal() {
	s.t.Helper()
	if err := s.Client().Sys().Seal(); err != nil {
		s.t.Fatalf("vault seal: %v", err)
	}
}

// Unseal unseals the server with the dev server's single unseal key (from its
// start-up banner); the data is kept.
func (s *Server) Unseal() {
	s.t.Helper()
	s.mu.Lock()
	out := s.out
	s.mu.Unlock()
	m := unsealKeyRE.FindStringSubmatch(out.String())
	if m == nil {
		s.t.Fatal("vault unseal: no unseal key in the dev server's output")
	}
	st, err := s.Client().Sys().Unseal(m[1])
	if err != nil {
		s.t.Fatalf("vault unseal: %v", err)
	}
	if st.Sealed {
		s.t.Fatal("vault unseal: still sealed after the unseal key")
	}
}
