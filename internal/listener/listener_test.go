package listener

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestListenTCPReportsTheRealPort(t *testing.T) {
	ln, addr, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if strings.HasSuffix(addr, ":0") || addr != ln.Addr().String() {
		t.Fatalf("addr = %q, listener at %s", addr, ln.Addr())
	}
}

func TestListenUnixReplacesAStaleSocketOnly(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "s.sock")
	ln, addr, err := Listen(UnixPrefix + sock)
	if err != nil {
		t.Fatal(err)
	}
	if addr != UnixPrefix+sock {
		t.Fatalf("addr = %q", addr)
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != SocketMode {
		t.Fatalf("socket mode %v: %v", fi.Mode().Perm(), err)
	}
	// A socket left behind (the listener's file without a server) is replaced.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	ln2, _, err := Listen(UnixPrefix + sock)
	if err != nil {
		t.Fatalf("a stale socket was not replaced: %v", err)
	}
	ln2.Close()
	// Any other file is never removed.
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Listen(UnixPrefix + plain); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("Listen over a regular file: %v", err)
	}
	if _, err := os.Stat(plain); err != nil {
		t.Fatalf("the regular file is gone: %v", err)
	}
}
