package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
)

// Proxy is one [[credential.proxy]] table: a local listener whose requests
// are forwarded to Upstream with the credential's current access token in
// the Authorization header (internal/proxy), so the consumer never holds a
// token.
type Proxy struct {
	// Listen is "host:port" (loopback unless AllowRemote) or "unix:/path".
	Listen string `toml:"listen"`
	// Upstream is the API's base URL, https:// (http:// only for a
	// loopback host or with the credential's allow_insecure_http); the
	// request's path is appended to its path.
	Upstream string `toml:"upstream"`
	// CAFile, if set, is a PEM bundle that replaces the system roots for
	// verifying the upstream's certificate.
	CAFile string `toml:"ca_file"`
	// AllowRemote lets Listen be a non-loopback address: anyone who can
	// reach it can call the upstream with the credential's token.
	AllowRemote bool `toml:"allow_remote"`
}

// proxyChecker checks the proxies of a config, credential by credential:
// each proxy's keys, and that no two listeners (nor the status server) use
// one address.
type proxyChecker struct {
	listens map[string]string // listen -> who uses it
}

func newProxyChecker(st *Status) *proxyChecker {
	c := &proxyChecker{listens: map[string]string{}}
	if st != nil && st.Listen != "" && !anyPort(st.Listen) {
		c.listens[st.Listen] = "status.listen"
	}
	return c
}

// check returns every problem of cr's proxies; key names cr.
func (c *proxyChecker) check(key string, cr *Credential) []error {
	var errs []error
	for j, p := range cr.Proxies {
		pk := fmt.Sprintf("%s.proxy[%d]", key, j)
		bad := func(field, format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s.%s: %s", pk, field, fmt.Sprintf(format, args...)))
		}
		if err := ValidateListen(p.Listen); err != nil {
			bad("listen", "%v", err)
		} else if !p.AllowRemote && !loopbackListen(p.Listen) {
			bad("listen", "%s is not a loopback address or unix socket; anyone who reaches it calls the upstream with this credential's token (set allow_remote = true if that is meant)", p.Listen)
		} else if other, ok := c.listens[p.Listen]; ok {
			bad("listen", "%s is already used by %s", p.Listen, other)
		} else {
			c.listens[p.Listen] = pk // one proxy per address, even ":0" (the daemon keys them by it)
		}
		u, err := url.Parse(p.Upstream)
		switch {
		case p.Upstream == "":
			bad("upstream", `is required (e.g. "https://api.example.com")`)
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			bad("upstream", "%q is not an http(s) URL with a host", p.Upstream)
		case u.User != nil || u.RawQuery != "" || u.Fragment != "":
			bad("upstream", "must not carry credentials, a query or a fragment")
		case u.Scheme == "http" && !cr.AllowInsecureHTTP && !loopbackHost(u.Hostname()):
			bad("upstream", "http:// sends the token in clear text; use https:// (or allow_insecure_http = true on the credential)")
		}
		if p.CAFile != "" {
			if _, err := os.Stat(p.CAFile); err != nil {
				bad("ca_file", "%v", err)
			}
		}
	}
	return errs
}

// anyPort reports whether listen asks for any free port (tests): the
// status server's never collides with a proxy's.
func anyPort(listen string) bool { return strings.HasSuffix(listen, ":0") }

// loopbackListen reports whether listen is a unix socket or a loopback
// host:port (validated by ValidateListen).
func loopbackListen(listen string) bool {
	if strings.HasPrefix(listen, UnixPrefix) {
		return true
	}
	host, _, _ := net.SplitHostPort(listen)
	return loopbackHost(host)
}

func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
