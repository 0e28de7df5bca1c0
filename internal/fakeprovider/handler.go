package fakeprovider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"time"
)

// maxBodyBytes caps a token request body; real ones are a few hundred bytes.
const maxBodyBytes = 64 << 10

// Failure is one injected misbehaviour, queued with FailNext.
//
// What the client sees:
//   - Status, Code or Body set: that answer. Status 0 means 400 when Code is
//     set and 200 when only Body is (e.g. a 200 carrying garbage). With no
//     Body, the body is {"error":Code,"error_description":Description};
//     Code defaults from Status (temporarily_unavailable for 429 and 503,
//     server_error for other 5xx, invalid_request otherwise).
//   - Disconnect: the connection is closed without any response.
//   - Only Delay: a slow provider; after the delay the request is processed
//     normally.
//
// Delay is waited before answering, in real time; it ends early if the
// client goes away or the provider is closed (then the connection is
// dropped). With AfterRotate the request is first processed normally (a
// refresh really rotates) and then the failure is served instead of the
// result; AfterRotate with nothing else set disconnects, simulating a
// response lost on the way back.
type Failure struct {
	Status      int           // HTTP status of the injected answer
	Code        string        // OAuth error code
	Description string        // error_description
	RetryAfter  string        // Retry-After header value, if set
	Body        string        // raw body; overrides Code and Description
	ContentType string        // default application/json
	Delay       time.Duration // real-time wait before answering
	AfterRotate bool          // process the request, then fail instead of delivering
	Disconnect  bool          // close the connection without a response
}

// answers reports whether f produces an HTTP answer (rather than nothing
// or a plain delay).
func (f Failure) answers() bool { return f.Status != 0 || f.Code != "" || f.Body != "" }

// oauthError is an error response of RFC 6749 §5.2.
type oauthError struct {
	status int
	code   string
	desc   string
	basic  bool   // the client tried HTTP Basic: add WWW-Authenticate
	allow  string // Allow header for 405
}

func errRequest(desc string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_request", desc: desc}
}

func errGrant(desc string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_grant", desc: desc}
}

func errScope(desc string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_scope", desc: desc}
}

func errClient(basic bool, desc string) *oauthError {
	return &oauthError{status: http.StatusUnauthorized, code: "invalid_client", desc: desc, basic: basic}
}

// routes is the one place where endpoints are wired.
func (p *Provider) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc(p.paths.Token, p.serveToken)
	mux.HandleFunc(p.paths.Authorize, p.serveAuthorize)
	mux.HandleFunc(p.paths.Introspect, p.serveIntrospect)
	mux.HandleFunc(p.paths.Device, p.serveDevice)
	return mux
}

// serveToken is the token endpoint: injected failures first, then the
// strict RFC 6749 processing in handleToken.
func (p *Provider) serveToken(w http.ResponseWriter, r *http.Request) {
	// Read the body first: net/http notices a client hanging up (and cancels
	// r.Context, ending an injected delay) only once the body is consumed.
	body, readErr := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	f, injected := p.takeFailure()
	if injected && !f.AfterRotate {
		p.pause(r.Context(), f.Delay)
		if f.answers() || f.Disconnect {
			writeFailure(w, f)
			return
		}
	}
	resp, oerr := p.handleToken(r, body, readErr)
	if injected && f.AfterRotate {
		p.pause(r.Context(), f.Delay)
		writeFailure(w, f)
		return
	}
	if oerr != nil {
		writeError(w, oerr)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// takeFailure counts the request and pops the next injected failure.
func (p *Provider) takeFailure() (Failure, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.st.Stats.TokenRequests++
	if len(p.failures) == 0 {
		return Failure{}, false
	}
	f := p.failures[0]
	p.failures = p.failures[1:]
	p.st.Stats.Injected++
	return f, true
}

// pause waits d; if the client leaves or the provider closes first, it drops
// the connection instead of answering.
func (p *Provider) pause(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		panic(http.ErrAbortHandler)
	case <-p.closing:
		panic(http.ErrAbortHandler)
	}
}

// handleToken parses, authenticates and runs the grant. State changes are
// saved before it returns, so nothing is answered that is not durable. If the
// save fails the client gets 500 server_error while the change stays in
// memory, like a provider whose response was lost.
func (p *Provider) handleToken(r *http.Request, body []byte, readErr error) (*tokenResponse, *oauthError) {
	params, oerr := parseRequest(r, body, readErr)
	if oerr == nil {
		oerr = p.checkEncoding(r)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var resp *tokenResponse
	if oerr == nil {
		resp, oerr = p.grantLocked(r.Header.Get("Authorization"), params)
	}
	if err := p.persistLocked(); err != nil { // a rotation, issuance or revocation
		resp, oerr = nil, &oauthError{status: http.StatusInternalServerError, code: "server_error", desc: "the provider could not save its state"}
	}
	if oerr != nil {
		p.st.Stats.Rejected++
		return nil, oerr
	}
	return resp, nil
}

// grantLocked authenticates the client and dispatches on grant_type.
func (p *Provider) grantLocked(authz string, params map[string]string) (*tokenResponse, *oauthError) {
	clientID, oerr := p.authenticateLocked(authz, params)
	if oerr != nil {
		return nil, oerr
	}
	switch params["grant_type"] {
	case "":
		return nil, errRequest("missing grant_type")
	case "refresh_token":
		return p.refreshLocked(clientID, params)
	case "client_credentials":
		return p.clientCredentialsLocked(clientID, params)
	case "authorization_code":
		return p.exchangeCodeLocked(clientID, params)
	case deviceGrantType:
		return p.deviceTokenLocked(clientID, params)
	default:
		return nil, &oauthError{status: http.StatusBadRequest, code: "unsupported_grant_type", desc: "grant type not supported"}
	}
}

// parseRequest enforces POST with a form or JSON body and returns its
// parameters. Empty values count as absent (RFC 6749 §3.1); repeated
// parameters are refused (§3.2); so are parameters in the URL, where
// secrets would end up in access logs. body is r's body as read by
// serveToken (at most maxBodyBytes+1 bytes), readErr the error reading it.
func parseRequest(r *http.Request, body []byte, readErr error) (map[string]string, *oauthError) {
	if r.Method != http.MethodPost {
		return nil, &oauthError{status: http.StatusMethodNotAllowed, code: "invalid_request", desc: "the token endpoint accepts only POST", allow: http.MethodPost}
	}
	if r.URL.RawQuery != "" {
		return nil, errRequest("parameters must be sent in the request body, not the URL")
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, errRequest("missing or malformed Content-Type")
	}
	if mt != "application/x-www-form-urlencoded" && mt != "application/json" {
		return nil, errRequest("Content-Type must be application/x-www-form-urlencoded or application/json")
	}
	if readErr != nil {
		return nil, errRequest("could not read the request body")
	}
	if len(body) > maxBodyBytes {
		return nil, errRequest("request body too large")
	}
	if mt == "application/json" {
		return parseJSONBody(body)
	}
	return parseFormBody(body)
}

func parseFormBody(body []byte) (map[string]string, *oauthError) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errRequest("malformed form body")
	}
	params := make(map[string]string, len(vals))
	for k, vs := range vals {
		if len(vs) > 1 {
			return nil, errRequest("a parameter was sent more than once")
		}
		if vs[0] != "" {
			params[k] = vs[0]
		}
	}
	return params, nil
}

// parseJSONBody accepts exactly one JSON object whose values are all strings,
// with no repeated keys.
func parseJSONBody(body []byte) (map[string]string, *oauthError) {
	bad := errRequest("body must be a JSON object of strings")
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, bad
	}
	params := map[string]string{}
	seen := map[string]bool{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, bad
		}
		k, _ := kt.(string)
		vt, err := dec.Token()
		if err != nil {
			return nil, bad
		}
		v, ok := vt.(string)
		if !ok {
			return nil, bad
		}
		if seen[k] {
			return nil, errRequest("a parameter was sent more than once")
		}
		seen[k] = true
		if v != "" {
			params[k] = v
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, bad
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, bad // trailing data
	}
	return params, nil
}

func setNoStore(h http.Header, contentType string) {
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store") // RFC 6749 §5.1
	h.Set("Pragma", "no-cache")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, _ := json.Marshal(v) // only our own plain structs
	setNoStore(w.Header(), "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func writeError(w http.ResponseWriter, e *oauthError) {
	if e.basic {
		w.Header().Set("WWW-Authenticate", `Basic realm="fakeprovider"`) // RFC 6749 §5.2
	}
	if e.allow != "" {
		w.Header().Set("Allow", e.allow)
	}
	writeJSON(w, e.status, errorBody{Error: e.code, Description: e.desc})
}

// writeFailure serves an injected failure as documented on Failure.
func writeFailure(w http.ResponseWriter, f Failure) {
	if f.Disconnect || !f.answers() {
		panic(http.ErrAbortHandler) // net/http closes the connection, no response
	}
	status := f.Status
	if status == 0 {
		status = http.StatusOK
		if f.Code != "" {
			status = http.StatusBadRequest
		}
	}
	body := []byte(f.Body)
	if f.Body == "" {
		code := f.Code
		if code == "" {
			code = defaultCode(status)
		}
		body, _ = json.Marshal(errorBody{Error: code, Description: f.Description})
	}
	ct := f.ContentType
	if ct == "" {
		ct = "application/json"
	}
	setNoStore(w.Header(), ct)
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func defaultCode(status int) string {
	switch {
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		return "temporarily_unavailable"
	case status >= 500:
		return "server_error"
	default:
		return "invalid_request"
	}
}
