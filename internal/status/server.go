// Package status is tokend's operations HTTP server and its client: health
// and readiness probes, Prometheus metrics, a read-only credentials API, a
// status web page at / built from the same snapshot (page.go), and admin
// endpoints (force a refresh, reload the config, import a token) that
// require the admin bearer token. It listens on TCP or a unix socket.
//
// No response ever holds a token: the credentials API returns
// scheduler.CredentialStatus, which carries only a fingerprint.
package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/listener"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/state"
)

// Backend is the running daemon as the status server sees it. Every method
// must be safe for concurrent use. Snapshot and StoreOpen must not block.
// RefreshNow and Import report an unknown credential with an error (the
// server checks names against Snapshot first). Reload returns every config
// problem at once and leaves the running config in place when it fails.
type Backend interface {
	Snapshot() []scheduler.CredentialStatus
	StoreOpen() bool
	RefreshNow(name string) error
	Reload(ctx context.Context) error
	Import(ctx context.Context, name string, tok scheduler.ImportedToken) error
}

// Options configures a Server.
type Options struct {
	Listen     string           // "host:port" or "unix:/path" (see config.ValidateListen)
	Backend    Backend          // required
	Metrics    http.Handler     // served at /metrics; nil: 404
	AdminToken secret.Secret    // bearer token of the admin endpoints; zero: they answer 403
	Log        *zap.Logger      // admin actions and rejected requests
	Now        func() time.Time // default time.Now
}

// maxBody caps admin request bodies (an import is well under 64 KiB).
const maxBody = 64 << 10

// Server is the status server. Create with New, run with Serve.
type Server struct {
	opts Options
	log  *zap.Logger
	ln   net.Listener
	addr string
	srv  *http.Server
}

// New validates opts and starts listening, so a taken port or a bad socket
// path fails at start-up. A stale unix socket file is replaced (the caller
// holds the state-store lock, so no other tokend uses it); any other file at
// that path is an error. The socket is made 0660.
func New(opts Options) (*Server, error) {
	if opts.Backend == nil {
		return nil, errors.New("status server: no backend")
	}
	if err := config.ValidateListen(opts.Listen); err != nil {
		return nil, fmt.Errorf("status server: listen: %w", err)
	}
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ln, addr, err := listener.Listen(opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("status server: %w", err)
	}
	s := &Server{opts: opts, log: opts.Log, ln: ln, addr: addr}
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          zap.NewStdLog(opts.Log.Named("http")),
	}
	return s, nil
}

// Addr is the address the server listens on: "host:port" with the real port
// (useful with port 0), or "unix:/path".
func (s *Server) Addr() string { return s.addr }

// Serve answers requests until ctx ends, then shuts down gracefully (up to
// 5s for requests in progress) and returns nil. It returns an error only if
// serving fails.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("status server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// Close stops listening without serving (for a daemon that fails to start).
func (s *Server) Close() error { return s.srv.Close() }

// Handler returns the server's routes, for tests and embedding.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.page)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	if s.opts.Metrics != nil {
		mux.Handle("GET /metrics", s.opts.Metrics)
	}
	mux.HandleFunc("GET /v1/credentials", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.opts.Backend.Snapshot())
	})
	mux.HandleFunc("GET /v1/credentials/{name}", func(w http.ResponseWriter, r *http.Request) {
		if st, ok := s.find(r.PathValue("name")); ok {
			writeJSON(w, http.StatusOK, st)
			return
		}
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown credential %q", r.PathValue("name")))
	})
	mux.Handle("POST /v1/credentials/{name}/refresh", s.admin(s.refresh))
	mux.Handle("POST /v1/credentials/{name}/import", s.admin(s.importToken))
	mux.Handle("POST /v1/reload", s.admin(s.reload))
	mux.Handle("GET /v1/credentials/{name}/token", s.admin(s.token)) // token.go
	return mux
}

func (s *Server) find(name string) (scheduler.CredentialStatus, bool) {
	sts := s.opts.Backend.Snapshot()
	i := slices.IndexFunc(sts, func(st scheduler.CredentialStatus) bool { return st.Name == name })
	if i < 0 {
		return scheduler.CredentialStatus{}, false
	}
	return sts[i], true
}

// readyz answers /readyz; ?credential=NAME (repeatable) limits the answer
// to those credentials (ReadinessOf).
func (s *Server) readyz(w http.ResponseWriter, req *http.Request) {
	r := ReadinessOf(s.opts.Backend.StoreOpen(), s.opts.Backend.Snapshot(), req.URL.Query()["credential"], s.opts.Now())
	code := http.StatusOK
	if !r.Ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, r)
}

// admin requires the admin bearer token.
func (s *Server) admin(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opts.AdminToken.IsZero() {
			writeError(w, http.StatusForbidden, "admin endpoints are disabled")
			return
		}
		presented, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !tokenMatches(strings.TrimSpace(presented), s.opts.AdminToken) {
			s.log.Warn("admin request rejected: missing or wrong bearer token",
				zap.String("path", r.URL.Path), zap.String("remote", r.RemoteAddr))
			w.Header().Set("WWW-Authenticate", `Bearer realm="tokend"`)
			writeError(w, http.StatusUnauthorized, "admin token required (Authorization: Bearer <state.dir/admin.token>)")
			return
		}
		h(w, r)
	})
}

// ActionResponse is the body of a successful admin call.
type ActionResponse struct {
	Result      string   `json:"result"`
	Credential  string   `json:"credential,omitempty"`
	Credentials []string `json:"credentials,omitempty"`
}

func (s *Server) refresh(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, ok := s.find(name); !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown credential %q", name))
		return
	}
	if err := s.opts.Backend.RefreshNow(name); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.log.Info("admin: refresh requested", zap.String("credential", name))
	writeJSON(w, http.StatusAccepted, ActionResponse{Result: "refresh requested", Credential: name})
}

func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	s.log.Info("admin: reload requested")
	if err := s.opts.Backend.Reload(r.Context()); err != nil {
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	var names []string
	for _, st := range s.opts.Backend.Snapshot() {
		names = append(names, st.Name)
	}
	writeJSON(w, http.StatusOK, ActionResponse{Result: "reloaded", Credentials: names})
}

func (s *Server) importToken(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	st, ok := s.find(name)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown credential %q", name))
		return
	}
	tok, err := decodeImport(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if st.Status == state.StatusRefreshing {
		writeError(w, http.StatusConflict, fmt.Sprintf("credential %q: a refresh is in flight; try again in a moment", name))
		return
	}
	if err := s.opts.Backend.Import(r.Context(), name, tok); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.log.Info("admin: token imported", zap.String("credential", name),
		zap.String("refresh_token_fp", tok.RefreshToken.Fingerprint()), zap.String("token_fp", tok.AccessToken.Fingerprint()))
	st, _ = s.find(name)
	writeJSON(w, http.StatusOK, st)
}

// errorBody is every error response: {"error": "..."}.
type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
