package grants

import (
	"net/http"
	"time"
)

// NewHTTPClient returns the client New uses when Config.HTTPClient is nil:
// 30 s timeout per request, TLS verification on, redirects not followed, and
// up to maxIdlePerHost keep-alive connections per host (0 means 2, net/http's
// default). A daemon with many credentials should share one such client
// across them: one connection pool and TLS session cache per provider
// instead of one per credential (memory and handshakes grow with the
// credential count). It is safe for concurrent use.
func NewHTTPClient(maxIdlePerHost int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if maxIdlePerHost > 0 {
		tr.MaxIdleConnsPerHost = maxIdlePerHost
		tr.MaxIdleConns = max(tr.MaxIdleConns, maxIdlePerHost)
	}
	tr.IdleConnTimeout = 90 * time.Second
	return &http.Client{
		Timeout:       defaultTimeout,
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
