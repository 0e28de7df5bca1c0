package vaulttest

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
)

// Counter records the requests that pass a CountingProxy.
type Counter struct {
	mu  sync.Mutex
	log []string // "METHOD /v1/path", in arrival order
}

// Take returns the requests recorded since the last Take and forgets them.
func (c *Counter) Take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.log
	c.log = nil
	return out
}

// CountingProxy starts a loopback proxy in front of the server that
// records every request, for tests that count Vault round trips. It is
// closed with the test.
func (s *Server) CountingProxy() (addr string, c *Counter) {
	s.t.Helper()
	target, err := url.Parse(s.Addr)
	if err != nil {
		s.t.Fatal(err)
	}
	c = &Counter{}
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.log = append(c.log, r.Method+" "+r.URL.Path)
		c.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	s.t.Cleanup(proxy.Close)
	return proxy.URL, c
}
