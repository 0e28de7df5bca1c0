package vaultclient

import (
	"errors"
	"fmt"
	"strings"
)

// CheckPath rejects an empty KV mount or key and one Vault would rewrite
// (leading or trailing '/', "//", "..", whitespace, '?', '#', '%'). The
// error is phrased to follow a config key ("path: is required").
func CheckPath(p string) error {
	switch {
	case p == "":
		return errors.New("is required")
	case strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/"):
		return fmt.Errorf("%q must not start or end with '/'", p)
	case strings.Contains(p, "//") || strings.Contains(p, "..") || strings.ContainsAny(p, " \t\n?#%"):
		return fmt.Errorf("%q is not a clean Vault path", p)
	}
	return nil
}
