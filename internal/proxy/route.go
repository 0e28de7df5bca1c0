package proxy

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/sinks"
	"github.com/tokend/tokend/internal/state"
)

// route is a built Route: the reverse proxy, its upstream transport and the
// refresher of its credential.
type route struct {
	cfg    Route
	listen string
	rp     *httputil.ReverseProxy
	tr     *http.Transport
	ref    *refresher
	src    Source
	obs    Observer
	log    *zap.Logger
	replay int64
}

// bufferPool lends ReverseProxy its 32 KiB copy buffers.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }

func (s *Server) newRoute(r Route) (*route, error) {
	up, err := url.Parse(r.Upstream)
	if err != nil || up.Host == "" || (up.Scheme != "https" && up.Scheme != "http") {
		return nil, fmt.Errorf("proxy %s: upstream %q is not an http(s) URL with a host", s.opts.Listen, r.Upstream)
	}
	if r.Credential == "" {
		return nil, fmt.Errorf("proxy %s: no credential", s.opts.Listen)
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if r.CAFile != "" {
		pem, err := os.ReadFile(r.CAFile)
		if err != nil {
			return nil, fmt.Errorf("proxy %s: ca_file: %w", s.opts.Listen, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("proxy %s: ca_file %s holds no PEM certificate", s.opts.Listen, r.CAFile)
		}
		tlsCfg.RootCAs = pool
	}
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		TLSClientConfig:       tlsCfg,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   128,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true, // pass Accept-Encoding and bodies through as they are
	}
	rt := &route{cfg: r, listen: s.opts.Listen, tr: tr, src: s.opts.Source, obs: s.opts.Observer,
		log: s.log.With(zap.String("credential", r.Credential)), replay: s.opts.MaxReplay}
	rt.ref = &refresher{src: s.opts.Source, name: r.Credential, wait: s.opts.RefreshWait, gap: s.opts.RefreshGap, log: rt.log}
	rt.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(up)
			pr.Out.Header.Del("Authorization") // the transport sets the credential's
		},
		Transport:      rt,
		ModifyResponse: rt.counted,
		ErrorHandler:   rt.fail,
		BufferPool:     &bufferPool{},
		ErrorLog:       zap.NewStdLog(rt.log.Named("http")),
	}
	return rt, nil
}

// noTokenError is a request the proxy cannot send: the credential has no
// usable token. Its message is the scheduler's reason (no token in it).
type noTokenError struct {
	status state.Status
	err    error
}

func (e *noTokenError) Error() string { return e.err.Error() }
func (e *noTokenError) Unwrap() error { return e.err }

// asNoToken turns a Source.Token error into what RoundTrip returns.
func asNoToken(st state.Status, err error) error {
	if errors.Is(err, scheduler.ErrNoToken) {
		return &noTokenError{status: st, err: err}
	}
	return err
}

// setAuth puts tok in req's Authorization header.
func setAuth(req *http.Request, tok sinks.Token) {
	req.Header.Set("Authorization", sinks.AuthScheme(tok.TokenType)+" "+tok.AccessToken.Reveal())
}

// RoundTrip sends the proxy's outgoing request (ReverseProxy's own copy,
// which it does not reuse) with the credential's current token. On a 401 it
// gets a newer token (refresher) and, when the body can be replayed, sends
// the request once more; otherwise the client gets the upstream's 401 and
// the refresh still happens for the requests that follow.
func (rt *route) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, st, err := rt.src.Token(rt.cfg.Credential)
	if err != nil {
		return nil, asNoToken(st, err)
	}
	replayable, err := rt.replayable(req)
	if err != nil {
		return nil, err
	}
	setAuth(req, tok)
	resp, err := rt.tr.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	if !replayable {
		rt.ref.kick(tok.Generation)
		return resp, nil
	}
	fresh, err := rt.ref.refresh(req.Context(), tok.Generation)
	var nt *noTokenError
	switch {
	case errors.As(err, &nt):
		resp.Body.Close()
		return nil, err
	case err != nil: // no newer token: the upstream's answer stands
		return resp, nil
	}
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10) // lets the connection be reused
	resp.Body.Close()
	again := req.Clone(req.Context())
	if req.GetBody != nil {
		if again.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	setAuth(again, fresh)
	if rt.obs != nil {
		rt.obs.ProxyRetried(rt.cfg.Credential, rt.listen)
	}
	return rt.tr.RoundTrip(again)
}

// replayable reports whether req can be sent twice, making it so when its
// body is small enough to keep (MaxReplay): no body, a GetBody, or a body of
// known length up to MaxReplay (read now, which is what sending it does
// anyway). A larger or unknown-length body streams untouched.
func (rt *route) replayable(req *http.Request) (bool, error) {
	switch {
	case req.Body == nil || req.Body == http.NoBody:
		return true, nil
	case req.GetBody != nil:
		return true, nil
	case req.ContentLength <= 0 || req.ContentLength > rt.replay:
		return false, nil
	}
	data, err := io.ReadAll(io.LimitReader(req.Body, req.ContentLength))
	req.Body.Close()
	if err != nil {
		return false, fmt.Errorf("reading the request body: %w", err)
	}
	req.Body = io.NopCloser(bytes.NewReader(data))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	return true, nil
}

// counted is ReverseProxy's ModifyResponse: it counts the upstream's answer
// by status class.
func (rt *route) counted(resp *http.Response) error {
	if rt.obs != nil {
		rt.obs.ProxyRequest(rt.cfg.Credential, rt.listen, strconv.Itoa(resp.StatusCode/100)+"xx")
	}
	return nil
}

// proxyError is the JSON body of the proxy's own error answers.
type proxyError struct {
	Error      string       `json:"error"`
	Credential string       `json:"credential"`
	Status     state.Status `json:"status,omitempty"`
}

// fail is ReverseProxy's ErrorHandler: 503 with the reason when the
// credential has no usable token, 502 when the upstream did not answer.
// Messages hold no token (the transport's errors name the upstream URL,
// never a header).
func (rt *route) fail(w http.ResponseWriter, r *http.Request, err error) {
	code, class := http.StatusBadGateway, "error"
	body := proxyError{Error: "upstream did not answer", Credential: rt.cfg.Credential}
	var nt *noTokenError
	switch {
	case errors.As(err, &nt):
		code, class = http.StatusServiceUnavailable, "no_token"
		body.Error, body.Status = nt.Error(), nt.status
	case errors.Is(err, r.Context().Err()): // the client went away
		code = 499 // not seen by the client; for the log
		rt.log.Debug("proxy: client went away", zap.String("path", r.URL.Path))
	default:
		rt.log.Warn("proxy: upstream request failed", zap.String("path", r.URL.Path), zap.Error(err))
	}
	if rt.obs != nil {
		rt.obs.ProxyRequest(rt.cfg.Credential, rt.listen, class)
	}
	if code == 499 {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}
