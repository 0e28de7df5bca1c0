package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/tokend/tokend/internal/listener"
)

// Status is the [status] table: where the status server (health, readiness,
// metrics, the credentials API and the admin endpoints) listens. A nil
// *Status (no [status] table) means the server is off.
type Status struct {
	// Listen is "host:port" (an IP literal or "localhost"; port 0 picks a free
	// port, which the CLI then cannot find) or "unix:/absolute/path.sock".
	Listen string `toml:"listen"`
}

// UnixPrefix marks a unix-socket listen address.
const UnixPrefix = listener.UnixPrefix

// maxUnixPath is the longest socket path sockaddr_un holds (108 bytes with
// the terminating NUL).
const maxUnixPath = 107

// AdminTokenFile is the file, under state.dir, that holds the status
// server's admin bearer token (created by the daemon, read by the CLI).
func (c *Config) AdminTokenFile() string { return AdminTokenPath(c.State.Dir) }

// AdminTokenPath returns the admin token file for a state directory.
func AdminTokenPath(stateDir string) string { return filepath.Join(stateDir, "admin.token") }

// validate checks the [status] table; nil (absent) is valid.
func (s *Status) validate() []error {
	if s == nil {
		return nil
	}
	if err := ValidateListen(s.Listen); err != nil {
		return []error{fmt.Errorf("status.listen: %w", err)}
	}
	return nil
}

// ValidateListen checks a status listen address: "host:port" with an IP
// literal or "localhost" as host, or "unix:" followed by an absolute path.
func ValidateListen(listen string) error {
	if listen == "" {
		return errors.New(`is required (e.g. "127.0.0.1:9464" or "unix:/run/tokend/tokend.sock")`)
	}
	if path, ok := strings.CutPrefix(listen, UnixPrefix); ok {
		switch {
		case !filepath.IsAbs(path):
			return fmt.Errorf("unix socket path %q must be absolute", path)
		case len(path) > maxUnixPath:
			return fmt.Errorf("unix socket path is %d bytes; at most %d fit in a socket address", len(path), maxUnixPath)
		case strings.HasSuffix(path, "/"):
			return fmt.Errorf("unix socket path %q names a directory", path)
		}
		return nil
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("%q is neither host:port nor unix:/path", listen)
	}
	if host != "localhost" && net.ParseIP(host) == nil {
		return fmt.Errorf("host %q must be an IP address or localhost (e.g. 127.0.0.1, 0.0.0.0, ::1)", host)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q must be a number from 0 to 65535", port)
	}
	return nil
}

// opsFile is the part of tokend.toml the operations CLI needs.
type opsFile struct {
	State  State   `toml:"state"`
	Status *Status `toml:"status"`
}

// LoadStatus reads only the [state] and [status] tables of the config at
// path, so `tokend status` works even while the rest of the file is being
// edited. It returns the status listen address and the state directory (with
// its default), or an error when the file cannot be read or [status] is
// absent or invalid.
func LoadStatus(path string) (listen, stateDir string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", "", fmt.Errorf("reading config: %w", err)
	}
	var f opsFile
	if _, err := toml.Decode(string(data), &f); err != nil {
		return "", "", fmt.Errorf("config %s: %w", path, err)
	}
	if f.State.Dir == "" {
		f.State.Dir = DefaultStateDir
	}
	if f.Status == nil {
		return "", f.State.Dir, fmt.Errorf("config %s has no [status] table: the status server is off (add [status] listen = \"127.0.0.1:9464\")", path)
	}
	if err := ValidateListen(f.Status.Listen); err != nil {
		return "", f.State.Dir, fmt.Errorf("config %s: status.listen: %w", path, err)
	}
	return f.Status.Listen, f.State.Dir, nil
}
