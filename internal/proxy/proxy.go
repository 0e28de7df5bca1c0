// Package proxy is tokend's auth-injecting reverse proxy: a local listener
// (loopback or a unix socket) whose requests are forwarded to one upstream
// API with the credential's current access token in the Authorization
// header, so a consumer never holds a token and never sees it rotate (the
// way Vault Proxy's API proxy and token-refresher do).
//
// Bodies stream both ways (net/http/httputil.ReverseProxy); the upstream's
// certificate is verified (against ca_file when set). When the upstream
// answers 401, the proxy asks the scheduler for a refresh through its
// normal refresh order (scheduler.RefreshNow: claim, intent, token
// endpoint, commit, sinks), one refresh shared by every request that saw
// the same token rejected (refresh.go), and sends again requests whose
// body can be replayed. A credential without a usable token (needs
// re-authorization, none yet, expired) answers 503 with a JSON reason.
// The token is never logged and never in an error or metric.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/sinks"
	"github.com/tokend/tokend/internal/state"
)

// Source is where a proxy gets its credential's token: the scheduler.
// Token must not block and wraps scheduler.ErrNoToken when the credential
// has no usable token; RefreshNow queues a refresh through the refresh
// order and returns at once. Both are safe for concurrent use. Neither is
// ever called while the proxy holds a lock of its own, so the scheduler may
// call StatusChanged under its lock.
type Source interface {
	Token(name string) (sinks.Token, state.Status, error)
	RefreshNow(name string) error
}

// Observer counts a proxy's traffic (internal/metrics). class is the
// upstream's status class ("2xx" ... "5xx"), "error" when no answer came
// from the upstream, or "no_token" for a 503 without a usable token. Calls
// must not block.
type Observer interface {
	ProxyRequest(credential, listen, class string)
	ProxyRetried(credential, listen string)
}

// Route is what a listener forwards: to which upstream, with whose token.
type Route struct {
	Credential string // the credential whose token is sent
	Upstream   string // base URL; the request's path is appended to its path
	CAFile     string // PEM roots for the upstream's certificate; "" : the system's
}

// Options configures a Server.
type Options struct {
	Listen   string // "host:port" or "unix:/path" (config.ValidateListen; loopback is checked by config)
	Route    Route
	Source   Source      // required
	Observer Observer    // nil: nothing counted
	Log      *zap.Logger // nil: no logs
	// RefreshWait bounds how long a request that saw a 401 waits for the
	// refresh it triggered or joined (default 30s).
	RefreshWait time.Duration
	// RefreshGap is the shortest time between two refreshes that 401s
	// trigger (default 5s), so an upstream that rejects every token cannot
	// make the proxy refresh on every request.
	RefreshGap time.Duration
	// MaxReplay is the largest request body kept in memory so the request
	// can be sent again after a 401 (default 64 KiB); a larger or
	// unknown-length body streams and is not retried.
	MaxReplay int64
}

// Server is one proxy listener. Create with New, run with Serve; Update
// changes its route without closing the listener (a reload).
type Server struct {
	opts  Options
	log   *zap.Logger
	ln    net.Listener
	addr  string
	srv   *http.Server
	route atomic.Pointer[route]
}

// unixPrefix marks a unix socket listen address (config.UnixPrefix).
const unixPrefix = "unix:"

// New checks opts, builds the route (its upstream URL and CA file) and
// starts listening, so a taken port, a bad socket path or an unreadable
// ca_file fails now. A stale unix socket file is replaced; any other file at
// the path is an error; the socket is made 0660.
func New(opts Options) (*Server, error) {
	if opts.Source == nil {
		return nil, errors.New("proxy: no token source")
	}
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if opts.RefreshWait <= 0 {
		opts.RefreshWait = 30 * time.Second
	}
	if opts.RefreshGap <= 0 {
		opts.RefreshGap = 5 * time.Second
	}
	if opts.MaxReplay <= 0 {
		opts.MaxReplay = 64 << 10
	}
	s := &Server{opts: opts}
	s.log = opts.Log.With(zap.String("listen", opts.Listen))
	rt, err := s.newRoute(opts.Route)
	if err != nil {
		return nil, err
	}
	s.route.Store(rt)
	if s.ln, s.addr, err = listen(opts.Listen); err != nil {
		return nil, fmt.Errorf("proxy %s: %w", opts.Listen, err)
	}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          zap.NewStdLog(s.log.Named("http")),
	}
	return s, nil
}

func listen(addr string) (net.Listener, string, error) {
	path, isUnix := strings.CutPrefix(addr, unixPrefix)
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
	if err := os.Chmod(path, 0o660); err != nil {
		_ = ln.Close()
		return nil, "", err
	}
	return ln, addr, nil
}

// Addr is where the server listens: "host:port" with the real port, or
// "unix:/path".
func (s *Server) Addr() string { return s.addr }

// Route is the route the server forwards now.
func (s *Server) Route() Route { return s.route.Load().cfg }

// Update replaces the route (a reload): requests already in flight finish
// on the old one, new ones take the new one. An error (bad upstream, an
// unreadable ca_file) leaves the old route in place.
func (s *Server) Update(r Route) error {
	rt, err := s.newRoute(r)
	if err != nil {
		return err
	}
	if old := s.route.Swap(rt); old != nil {
		old.tr.CloseIdleConnections()
	}
	s.log.Info("proxy route updated", zap.String("credential", r.Credential), zap.String("upstream", r.Upstream))
	return nil
}

// StatusChanged tells the server a credential's status changed (the
// scheduler's Observer event, fanned out by the daemon), so requests
// waiting for a refresh they triggered wake up. It never blocks.
func (s *Server) StatusChanged(st scheduler.CredentialStatus) {
	if rt := s.route.Load(); rt.cfg.Credential == st.Name {
		rt.ref.statusChanged(st)
	}
}

// ServeHTTP forwards one request through the current route.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.route.Load().rp.ServeHTTP(w, r)
}

// Serve answers requests until ctx ends, then shuts down (up to 5s for
// requests in progress; longer streams are cut) and returns nil. It returns
// an error only if serving fails.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	s.log.Info("proxy listening", zap.String("addr", s.addr), zap.String("credential", s.Route().Credential),
		zap.String("upstream", s.Route().Upstream))
	select {
	case err := <-errc:
		return fmt.Errorf("proxy %s: %w", s.opts.Listen, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = s.srv.Close()
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	s.route.Load().tr.CloseIdleConnections()
	return err
}

// Close stops listening without serving (for a daemon that fails to start
// or a proxy built by a rejected reload).
func (s *Server) Close() error {
	err := s.srv.Close()
	if lerr := s.ln.Close(); lerr != nil && !errors.Is(lerr, net.ErrClosed) {
		err = errors.Join(err, lerr)
	}
	return err
}
