// Package fakeprovider is a strict, local OAuth 2.0 token endpoint for
// tokend's tests, the `tokend demo` command and benchmarks.
//
// It is deliberately unforgiving. It authenticates clients only as RFC 6749
// §2.3.1 allows, rotates the refresh token on every refresh, and treats a
// refresh token presented a second time as stolen: the whole token family is
// revoked (RFC 9700 §4.14.2). It is the adversary that proves tokend never
// reuses a refresh token. Failures can be injected on cue (FailNext),
// including the nastiest one: a refresh that happens on the provider whose
// response never reaches the client (Failure.AfterRotate).
//
// Routing lives in one place (routes in handler.go): POST /token, GET
// /authorize (redirects with a code and the state, PKCE S256 supported) and
// POST /introspect (RFC 7662); the paths and the wire format can be set per
// provider (presets.go has Basic.tech's and Apicbase's; basiq.go is a
// separate fake of Basiq's API-key token endpoint). Tokens are kept in plain text, in memory and in the optional
// StateFile (mode 0600): this is a test fixture bound to 127.0.0.1, not an
// authorization server for real use.
package fakeprovider

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// DefaultAccessTTL is the access-token lifetime when Options.AccessTTL is zero.
const DefaultAccessTTL = 30 * time.Second

// codeTTL is how long an authorization code stays redeemable when
// Options.CodeTTL is zero; RFC 6749 §4.1.2 recommends at most ten minutes.
const codeTTL = 10 * time.Minute

// Options configures a Provider. The zero value is a usable in-memory provider.
type Options struct {
	// AccessTTL is the access-token lifetime announced in expires_in; 0 means
	// DefaultAccessTTL.
	AccessTTL time.Duration
	// StateFile, if set, makes the provider durable: every change to clients,
	// token families, tokens and revocations is written before the response
	// is sent (temp file in the same directory, fsync, rename, fsync of the
	// directory; mode 0600), and New loads it, so a restarted provider keeps
	// all of them. A missing file starts empty; a corrupt one is an error.
	StateFile string
	// Now is the clock for issuing and expiring tokens; nil means time.Now.
	// Failure.Delay always uses real time.
	Now func() time.Time
	// JWTAccess issues access tokens shaped like JWTs (header.payload.sig,
	// with exp, iat, sub, client_id and scope claims and a signature nobody
	// can verify) instead of opaque "at_" strings.
	JWTAccess bool
	// OmitExpiresIn leaves expires_in out of token responses, to exercise a
	// client's JWT exp parsing or its default lifetime.
	OmitExpiresIn bool
	// CodeTTL is how long an authorization code can be redeemed (by Now);
	// 0 means ten minutes. Apicbase's is one minute.
	CodeTTL time.Duration
	// RequireBody, if "form" or "json", refuses token requests in the other
	// encoding with invalid_request (Basic.tech takes JSON, Apicbase form).
	RequireBody string
	// RequirePKCE makes /authorize refuse requests without an S256
	// code_challenge. A code issued with a challenge always needs the
	// matching code_verifier (RFC 7636 §4.6), and a verifier sent for a code
	// issued without one is refused.
	RequirePKCE bool
	// Paths are where the endpoints are served; empty fields keep /token,
	// /authorize and /introspect.
	Paths Paths
}

// Paths are the request paths of the provider's endpoints.
type Paths struct {
	Token, Authorize, Introspect string
	// Device is the RFC 8628 device authorization endpoint (device.go);
	// empty keeps /device_authorization.
	Device string
}

// Stats counts what the provider has seen. It is persisted with the state.
type Stats struct {
	TokenRequests     int // requests to /token, including rejected and injected ones
	Refreshes         int // successful refresh_token grants (including AfterRotate ones)
	ClientCredentials int // successful client_credentials grants
	CodeExchanges     int // successful authorization_code grants
	Reuses            int // refresh tokens presented again after they were used
	Rejected          int // requests answered with an OAuth error by normal processing
	FamiliesRevoked   int // token families revoked because of a reuse
	Injected          int // failures taken from the FailNext queue
	Authorizations    int // codes issued by /authorize
	Introspections    int // requests to /introspect that authenticated
}

// Provider is a strict in-process OAuth 2.0 token endpoint. All methods are
// safe for concurrent use.
type Provider struct {
	now     func() time.Time
	jwt     bool
	omitExp bool
	codeTTL time.Duration
	body    string
	pkce    bool
	paths   Paths
	path    string
	mux     *http.ServeMux
	closing chan struct{} // closed by Close; interrupts injected delays
	once    sync.Once

	mu    sync.Mutex
	ttl   time.Duration
	st    *state
	dirty bool // st changed since the last save
	// swept is how many access tokens were left by the last sweep of
	// expired ones; the next sweep waits until the map has doubled, so
	// issuing stays amortized O(1) however many tokens are live (tokend-bench).
	swept       int
	failures    []Failure
	devices     *devices // RFC 8628 device grants in flight (device.go); not persisted
	deviceStats DeviceStats
	err         error // result of the most recent save
	srv         *http.Server
	served      chan struct{} // closed when srv.Serve returns
	closed      bool
}

// New returns a provider, loading Options.StateFile when it is set. With a
// StateFile it also writes the file once, so an unwritable location fails
// here rather than on the first refresh.
func New(opts Options) (*Provider, error) {
	p := &Provider{
		now:     opts.Now,
		jwt:     opts.JWTAccess,
		omitExp: opts.OmitExpiresIn,
		codeTTL: opts.CodeTTL,
		body:    opts.RequireBody,
		pkce:    opts.RequirePKCE,
		paths:   opts.Paths,
		path:    opts.StateFile,
		closing: make(chan struct{}),
		ttl:     opts.AccessTTL,
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.ttl <= 0 {
		p.ttl = DefaultAccessTTL
	}
	if p.codeTTL <= 0 {
		p.codeTTL = codeTTL
	}
	p.paths.Token = cmp.Or(p.paths.Token, "/token")
	p.paths.Authorize = cmp.Or(p.paths.Authorize, "/authorize")
	p.paths.Introspect = cmp.Or(p.paths.Introspect, "/introspect")
	p.paths.Device = cmp.Or(p.paths.Device, "/device_authorization")
	p.devices = newDevices()
	st, err := loadState(p.path)
	if err != nil {
		return nil, err
	}
	p.st = st
	p.mux = p.routes()
	if p.path != "" {
		if err := p.saveLocked(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Handler returns the provider's HTTP handler (its Paths). Use it with
// httptest.NewServer, or call Start. An injected disconnect aborts the
// handler with http.ErrAbortHandler, which net/http turns into a dropped
// connection.
func (p *Provider) Handler() http.Handler { return p.mux }

// Start serves Handler on a fresh 127.0.0.1 port and returns the base URL
// ("http://127.0.0.1:PORT"); the token endpoint is baseURL+"/token". A
// provider can be started once.
func (p *Provider) Start() (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return "", errors.New("fake provider is closed")
	}
	if p.srv != nil {
		return "", errors.New("fake provider already started")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("fake provider listening on 127.0.0.1: %w", err)
	}
	srv := &http.Server{Handler: p.mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln) // always ErrServerClosed after Shutdown/Close
	}()
	p.srv, p.served = srv, served
	return "http://" + ln.Addr().String(), nil
}

// Close interrupts injected delays, stops the server started by Start (if
// any; in-flight requests get a few seconds to finish) and writes the state
// file a final time. It returns the error of that final write; later calls
// do nothing.
func (p *Provider) Close() error {
	p.once.Do(func() { close(p.closing) })
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	srv, served := p.srv, p.served
	p.srv, p.closed = nil, true
	p.mu.Unlock()
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close() // grace period over: drop the stragglers
		}
		cancel()
		<-served
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.path == "" {
		return nil
	}
	p.err = p.saveLocked()
	return p.err
}

// Err returns the error of the most recent state-file write (nil when it
// succeeded or there is no StateFile). Methods without an error result, such
// as AddClient, report persistence failures only here.
func (p *Provider) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// AddClient registers a client, or replaces its secret. An empty secret makes
// a public client, which identifies itself with client_id alone and cannot
// use client_credentials.
func (p *Provider) AddClient(id, secret string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.st.Clients[id]; ok && c.Secret == secret {
		return
	}
	p.st.Clients[id] = &client{Secret: secret}
	p.dirty = true
	_ = p.persistLocked()
}

// IssueRefreshToken starts a new token family for clientID with the given
// space-separated scope and returns its first refresh token, as an operator
// would obtain out of band to seed tokend. The client need not be registered
// yet, but must be before the token can be used.
func (p *Provider) IssueRefreshToken(clientID, scope string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	tok := p.issueRefreshLocked(p.newFamilyLocked(clientID, normalizeScope(scope)))
	_ = p.persistLocked()
	return tok
}

// IssueAuthorizationCode registers a single-use authorization code, as an
// authorization endpoint would after the user consents, and returns it. The
// code is redeemable for Options.CodeTTL by clientID with the
// authorization_code grant; redirectURI, if not empty, must be repeated in
// the exchange (RFC 6749 §4.1.3). It carries no PKCE challenge; codes from
// /authorize may.
func (p *Provider) IssueAuthorizationCode(clientID, redirectURI, scope string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	code := p.issueCodeLocked(&authCode{ClientID: clientID, RedirectURI: redirectURI, Scope: normalizeScope(scope)})
	_ = p.persistLocked()
	return code
}

// issueCodeLocked stores ac under a fresh code, expiring CodeTTL from now.
func (p *Provider) issueCodeLocked(ac *authCode) string {
	code := randomToken("ac_")
	ac.ExpiresAt = p.now().Add(p.codeTTL)
	p.st.Codes[code] = ac
	p.dirty = true
	return code
}

// FailNext queues one injected failure. Queued failures are served in FIFO
// order, one per request to /token, before normal processing.
func (p *Provider) FailNext(f Failure) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failures = append(p.failures, f)
}

// SetAccessTTL changes the lifetime of access tokens issued from now on;
// d <= 0 means DefaultAccessTTL.
func (p *Provider) SetAccessTTL(d time.Duration) {
	if d <= 0 {
		d = DefaultAccessTTL
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ttl = d
}

// Stats returns a snapshot of the counters.
func (p *Provider) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.st.Stats
}

// Presented returns, in order, the refresh_token parameter of every refresh
// request that got past client authentication, accepted or not. Requests
// answered by an injected failure before processing never reach that point
// and are not included.
func (p *Provider) Presented() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.st.Presented)
}

// IssuedRefreshTokens returns every refresh token the provider has issued,
// in order, including used and revoked ones.
func (p *Provider) IssuedRefreshTokens() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.st.Issued)
}

// ActiveAccessToken reports whether tok was issued by this provider, has not
// expired by the provider's clock, and its token family was not revoked.
func (p *Provider) ActiveAccessToken(tok string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	at, ok := p.st.Access[tok]
	if !ok || !p.now().Before(at.ExpiresAt) {
		return false
	}
	if at.Family == "" {
		return true
	}
	return !p.st.Families[at.Family].Revoked
}

// CurrentRefreshToken returns the live refresh tokens of clientID (issued,
// not yet used, family not revoked), oldest first: one per live family.
func (p *Provider) CurrentRefreshToken(clientID string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var live []string
	for _, tok := range p.st.Issued {
		rt := p.st.Refresh[tok]
		fam := p.st.Families[rt.Family]
		if !rt.Used && !fam.Revoked && fam.ClientID == clientID {
			live = append(live, tok)
		}
	}
	return live
}

// persistLocked writes the state file if anything changed since the last
// write. Callers hold p.mu.
func (p *Provider) persistLocked() error {
	if !p.dirty {
		return nil
	}
	if p.path == "" {
		p.dirty = false
		return nil
	}
	p.err = p.saveLocked()
	if p.err == nil {
		p.dirty = false
	}
	return p.err
}
