package status

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

// webPaths are what WebProxy forwards: the status page and the read-only
// API it is built from. Admin endpoints are never forwarded (the proxy holds
// no admin token and answers 404 for them), nor is /metrics.
var webPaths = map[string]bool{"/": true, "/v1/credentials": true, "/readyz": true, "/healthz": true}

// WebProxy returns a handler that forwards GET and HEAD requests for the
// status page (and the read-only JSON it is built from) to the daemon over
// the client's transport, so the page is reachable in a browser even when
// the daemon listens on a unix socket. Anything else answers 404 or 405.
func (c *Client) WebProxy() http.Handler {
	target, _ := url.Parse(c.base) // c.base is built by NewClient: always valid
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = target.Host
			pr.Out.Header.Del("Authorization")
			pr.Out.Header.Del("Cookie")
		},
		Transport: c.hc.Transport,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			writeError(w, http.StatusBadGateway, fmt.Sprintf("%v: %v", ErrUnreachable, err))
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !webPaths[r.URL.Path] {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "the status page proxy is read-only")
			return
		}
		rp.ServeHTTP(w, r)
	})
}

// ServeWeb listens on addr (a loopback "host:port"; port 0 picks one), calls
// ready with the page's URL, and serves WebProxy until ctx ends. It refuses
// a non-loopback address: the page is for the operator at this machine.
func (c *Client) ServeWeb(ctx context.Context, addr string, ready func(url string)) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("web listen address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("web listen address %q: only a loopback address is allowed", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("web listen: %w", err)
	}
	srv := &http.Server{Handler: c.WebProxy(), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	ready("http://" + ln.Addr().String() + "/")
	select {
	case err := <-errc:
		return fmt.Errorf("web proxy: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
