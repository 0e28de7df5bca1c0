// Package listener opens the loopback and unix-socket listeners of the
// status server and the auth-injecting proxies, the one way both need.
package listener

import (
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
)

// UnixPrefix marks a unix-socket address: "unix:/run/tokend/x.sock".
const UnixPrefix = "unix:"

// SocketMode is the mode of a socket Listen creates: owner and group may
// connect.
const SocketMode = 0o660

// Listen listens on addr, a TCP "host:port" or "unix:/path", and returns
// the address it listens on: "host:port" with the real port (useful with
// port 0) or addr itself. A stale socket file at the path is replaced; any
// other file there is an error.
func Listen(addr string) (net.Listener, string, error) {
	path, isUnix := strings.CutPrefix(addr, UnixPrefix)
	if !isUnix {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, "", err
		}
		return ln, ln.Addr().String(), nil
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, "", fmt.Errorf("%s exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, "", fmt.Errorf("removing stale socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, "", err
	}
	if err := os.Chmod(path, SocketMode); err != nil {
		_ = ln.Close()
		return nil, "", err
	}
	return ln, addr, nil
}
