// Package vaulttest runs a real Vault dev server for integration tests.
//
// The binary is the one scripts/vault-bin builds from tools/vault (pinned
// Vault v1.21.0): $TOKEND_VAULT_BIN when set (scripts/test sets it), else
// the script is run, which builds it into the cache once. Tests fail, never
// skip, when Vault cannot be started.
package vaulttest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/tokend/tokend/internal/syncbuf"
)

// Server is one `vault server -dev` on 127.0.0.1. Dev mode keeps everything
// in memory with a KV v2 engine at secret/; Restart therefore loses all data.
type Server struct {
	Addr      string // http://127.0.0.1:port
	RootToken string

	t    testing.TB
	bin  string
	port int
	home string
	mu   sync.Mutex
	cmd  *exec.Cmd
	out  *syncbuf.Buffer // written by the server process's output copier
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// Binary returns the Vault binary's path, building it once if needed.
func Binary() (string, error) {
	binOnce.Do(func() {
		if p := os.Getenv("TOKEND_VAULT_BIN"); p != "" {
			binPath = p
			return
		}
		root, err := repoRoot()
		if err != nil {
			binErr = err
			return
		}
		out, err := exec.Command(filepath.Join(root, "scripts", "vault-bin")).Output()
		if err != nil {
			binErr = fmt.Errorf("scripts/vault-bin: %w", err)
			return
		}
		binPath = strings.TrimSpace(string(out))
	})
	return binPath, binErr
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "scripts", "vault-bin")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("scripts/vault-bin not found above the test directory")
		}
		dir = parent
	}
}

// Start runs a dev server on a free loopback port and stops it when the test
// ends. It fails the test if Vault cannot be started.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatalf("vault binary: %v (run scripts/vault-bin or set TOKEND_VAULT_BIN)", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	s := &Server{t: t, bin: bin, port: port, home: t.TempDir(), RootToken: "root-" + randHex(8),
		Addr: fmt.Sprintf("http://127.0.0.1:%d", port)}
	t.Cleanup(s.Stop)
	if err := s.start(); err != nil {
		t.Fatalf("starting vault: %v", err)
	}
	return s
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd := exec.Command(s.bin, "server", "-dev", "-dev-no-store-token",
		fmt.Sprintf("-dev-listen-address=127.0.0.1:%d", s.port), "-dev-root-token-id="+s.RootToken)
	cmd.Env = []string{"HOME=" + s.home, "PATH=" + os.Getenv("PATH"), "VAULT_LOG_LEVEL=warn"}
	s.out = &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd = cmd
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.Addr + "/v1/sys/health")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	s.cmd = nil
	return fmt.Errorf("vault did not become healthy in 30s; output:\n%s", s.out.String())
}

// Stop kills the server (idempotent).
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart stops the server and starts a fresh one on the same port with the
// same root token. Dev mode is in memory: every secret, policy and auth
// method is gone afterwards.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatalf("restarting vault: %v", err)
	}
}

// Client returns a root-token client with retries off.
func (s *Server) Client() *api.Client {
	s.t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = s.Addr
	cfg.MaxRetries = 0
	c, err := api.NewClient(cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	c.SetToken(s.RootToken)
	return c
}

// Write is a root-token write that fails the test on error.
func (s *Server) Write(path string, data map[string]any) *api.Secret {
	s.t.Helper()
	sec, err := s.Client().Logical().WriteWithContext(context.Background(), path, data)
	if err != nil {
		s.t.Fatalf("vault write %s: %v", path, err)
	}
	return sec
}

// Policy creates a named ACL policy from HCL.
func (s *Server) Policy(name, hcl string) {
	s.t.Helper()
	if err := s.Client().Sys().PutPolicy(name, hcl); err != nil {
		s.t.Fatalf("vault policy %s: %v", name, err)
	}
}

// Token creates a child token with the given policies and options (e.g.
// "ttl", "renewable", "explicit_max_ttl") and returns it.
func (s *Server) Token(policies []string, opts map[string]any) string {
	s.t.Helper()
	data := map[string]any{"policies": policies, "no_default_policy": false}
	for k, v := range opts {
		data[k] = v
	}
	sec := s.Write("auth/token/create", data)
	return sec.Auth.ClientToken
}

// MountKV mounts a KV engine of the given version at path.
func (s *Server) MountKV(path string, version int) {
	s.t.Helper()
	err := s.Client().Sys().Mount(path, &api.MountInput{Type: "kv", Options: map[string]string{"version": fmt.Sprint(version)}})
	if err != nil {
		s.t.Fatalf("vault mount %s: %v", path, err)
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
