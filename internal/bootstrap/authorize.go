package bootstrap

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/secret"
)

// DefaultListenTimeout is how long Authorize waits for the redirect.
const DefaultListenTimeout = 5 * time.Minute

// ErrStateMismatch is returned when the redirect (or a pasted callback URL)
// carries another state than the request: it did not come from this
// authorization request (RFC 6749 §10.12), so nothing is exchanged or stored.
var ErrStateMismatch = errors.New("state mismatch: the redirect does not belong to this authorization request; nothing was stored")

// AuthorizeOptions tunes Authorize.
type AuthorizeOptions struct {
	// Code skips the loopback listener. "-" prints the URL, then reads the
	// code (or the whole callback URL) as one line from In; any other value
	// is a code obtained elsewhere, exchanged as it is (no PKCE verifier and
	// no state can be checked for it).
	Code string
	// NoPKCE leaves out the PKCE challenge even when the credential uses it.
	NoPKCE bool
	// ListenTimeout bounds the wait for the redirect or the pasted code; 0
	// means DefaultListenTimeout.
	ListenTimeout time.Duration
	Out           io.Writer // receives the authorization URL as its first line
	Log           io.Writer // instructions and progress (stderr); nil discards
	In            io.Reader // the pasted code with Code "-"
	// Store saves the exchanged token before the browser gets its page, so
	// the page tells the truth. nil stores nothing.
	Store func(ctx context.Context, tok grants.Token) error
}

// Request is one prepared authorization request (RFC 6749 §4.1.1).
type Request struct {
	URL         string
	RedirectURI string // "" when none is sent
	State       string
	Verifier    string // PKCE code_verifier; "" without PKCE
}

// NewRequest builds the authorization URL for cr with a fresh random state
// and, if pkce, a fresh S256 code challenge (RFC 7636 §4.1-4.2). Parameters
// already in authorize_url's query are kept.
func NewRequest(cr *config.Credential, redirectURI string, pkce bool) (Request, error) {
	if cr.AuthorizeURL == "" {
		return Request{}, fmt.Errorf("credential %q has no authorize_url (set it, a provider preset or issuer)", cr.Name)
	}
	u, err := url.Parse(cr.AuthorizeURL)
	if err != nil {
		return Request{}, fmt.Errorf("credential %q: authorize_url is not a valid URL", cr.Name)
	}
	r := Request{RedirectURI: redirectURI, State: rand.Text()}
	q := u.Query()
	q.Set("response_type", "code")
	q.Set("client_id", cr.ClientID)
	if redirectURI != "" {
		q.Set("redirect_uri", redirectURI)
	}
	if len(cr.Scopes) > 0 {
		q.Set("scope", strings.Join(cr.Scopes, " "))
	}
	q.Set("state", r.State)
	if pkce {
		r.Verifier = oauth2.GenerateVerifier()
		q.Set("code_challenge", oauth2.S256ChallengeFromVerifier(r.Verifier))
		q.Set("code_challenge_method", "S256")
	}
	u.RawQuery = q.Encode()
	r.URL = u.String()
	return r, nil
}

// Authorize runs the authorization-code flow for cr: it prints the
// authorization URL as the first line of opts.Out, receives the code on the
// loopback redirect_uri (or as opts.Code says), checks state, exchanges the
// code at once with c (Apicbase's codes live one minute) and hands the
// token to opts.Store. The returned error says what went wrong without
// quoting a code or token.
func Authorize(ctx context.Context, cr *config.Credential, c *grants.Client, opts AuthorizeOptions) (grants.Token, error) {
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.ListenTimeout <= 0 {
		opts.ListenTimeout = DefaultListenTimeout
	}
	pkce := cr.UsesPKCE() && !opts.NoPKCE
	switch opts.Code {
	case "":
		return authorizeLoopback(ctx, cr, c, pkce, opts)
	case "-":
		return authorizePasted(ctx, cr, c, pkce, opts)
	}
	fmt.Fprintln(opts.Log, "exchanging the given code (no state check, no PKCE verifier)")
	return exchange(ctx, c, opts.Code, cr.RedirectURI, "", opts.Store)
}

// exchange redeems code and stores the token.
func exchange(ctx context.Context, c *grants.Client, code, redirectURI, verifier string, store func(context.Context, grants.Token) error) (grants.Token, error) {
	tok, err := c.ExchangeCode(ctx, secret.New(code), redirectURI, verifier)
	if err != nil {
		return grants.Token{}, fmt.Errorf("exchanging the authorization code: %w", err)
	}
	if store != nil {
		if err := store(ctx, tok); err != nil {
			return grants.Token{}, fmt.Errorf("storing the tokens: %w", err)
		}
	}
	return tok, nil
}

// authorizePasted prints the URL and reads the code, or the callback URL
// holding it, from opts.In.
func authorizePasted(ctx context.Context, cr *config.Credential, c *grants.Client, pkce bool, opts AuthorizeOptions) (grants.Token, error) {
	req, err := NewRequest(cr, cr.RedirectURI, pkce)
	if err != nil {
		return grants.Token{}, err
	}
	fmt.Fprintln(opts.Out, req.URL)
	fmt.Fprintln(opts.Log, "Open the URL above, authorize, then paste the code (or the whole URL you were sent to) and press Enter:")
	line, err := readLine(ctx, opts.In, opts.ListenTimeout)
	if err != nil {
		return grants.Token{}, err
	}
	code, state := parsePasted(line)
	if code == "" {
		return grants.Token{}, errors.New("no authorization code in the pasted text")
	}
	if state != "" && subtle.ConstantTimeCompare([]byte(state), []byte(req.State)) != 1 {
		return grants.Token{}, ErrStateMismatch
	}
	return exchange(ctx, c, code, req.RedirectURI, req.Verifier, opts.Store)
}

// readLine reads one line from r, giving up after timeout or when ctx ends.
func readLine(ctx context.Context, r io.Reader, timeout time.Duration) (string, error) {
	if r == nil {
		return "", errors.New("no input to read the code from")
	}
	ch := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		if err != nil && line == "" {
			errc <- fmt.Errorf("reading the code: %w", err)
			return
		}
		ch <- strings.TrimSpace(line)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case l := <-ch:
		return l, nil
	case err := <-errc:
		return "", err
	case <-t.C:
		return "", fmt.Errorf("no code pasted within %s", timeout)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// parsePasted accepts a bare code, a callback URL or a query string.
func parsePasted(s string) (code, state string) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "code=") {
		return s, ""
	}
	if i := strings.IndexByte(s, '?'); i >= 0 {
		s = s[i+1:]
	}
	s, _, _ = strings.Cut(s, "#")
	q, err := url.ParseQuery(s)
	if err != nil {
		return "", ""
	}
	return q.Get("code"), q.Get("state")
}

// providerRefusal turns an error redirect (RFC 6749 §4.1.2.1) into an error
// that is safe to print: only printable ASCII, cut short.
func providerRefusal(q url.Values) error {
	code, desc := safeText(q.Get("error"), 64), safeText(q.Get("error_description"), 200)
	if desc != "" {
		return fmt.Errorf("the provider refused the authorization: %s: %s", code, desc)
	}
	return fmt.Errorf("the provider refused the authorization: %s", code)
}

func safeText(s string, limit int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
	if len(s) > limit {
		s = s[:limit]
	}
	return s
}

// page is the answer shown in the browser.
type page struct {
	status int
	text   string
}

func writePage(w http.ResponseWriter, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(p.status)
	_, _ = io.WriteString(w, "<!doctype html><title>tokend</title><p>"+html.EscapeString(p.text)+"</p>\n")
}

// listenLoopback listens where the redirect_uri points. Only http URLs to a
// loopback host qualify (RFC 8252 §7.3); "localhost" is served on
// 127.0.0.1. Port 0 picks a free port; the returned URI has the real one.
func listenLoopback(redirect string) (net.Listener, *url.URL, error) {
	if redirect == "" {
		return nil, nil, errors.New("no redirect_uri configured: set one registered with the provider (e.g. http://127.0.0.1:8976/callback), or use --code")
	}
	u, err := url.Parse(redirect)
	if err != nil || u.Scheme != "http" || !config.IsLoopbackHost(u.Hostname()) {
		return nil, nil, fmt.Errorf("redirect_uri %s is not an http:// loopback URL tokend can listen on (127.0.0.1, [::1], localhost); use --code", safeText(redirect, 200))
	}
	host, port := u.Hostname(), u.Port()
	if strings.EqualFold(host, "localhost") {
		host = "127.0.0.1"
	}
	if port == "" {
		port = "80"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, nil, fmt.Errorf("listening for the redirect on %s: %w", net.JoinHostPort(host, port), err)
	}
	if port == "0" {
		_, real, _ := net.SplitHostPort(ln.Addr().String())
		u.Host = net.JoinHostPort(u.Hostname(), real)
	}
	return ln, u, nil
}
