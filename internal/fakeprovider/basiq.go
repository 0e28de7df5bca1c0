package fakeprovider

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// BasiqAccount is the state of a Basiq partner account.
type BasiqAccount int

// The account states Basiq's docs distinguish.
const (
	BasiqActive   BasiqAccount = iota
	BasiqDisabled              // "temporarily disabled": 403 access-denied
	BasiqDeleted               // 404 parameter-not-valid
)

// BasiqRequest is what the fake saw of one POST /token.
type BasiqRequest struct {
	Authorization string
	Version       string
	ContentType   string
	Body          string
}

// Basiq is a strict fake of Basiq's token endpoint as its "Authentication"
// page documents it: POST /token with `Authorization: Basic <API key>` (the
// key exactly as the dashboard shows it, not re-encoded), a `basiq-version`
// header (2.0 or 3.0), and a form body `scope=SERVER_ACCESS` or
// `scope=CLIENT_ACCESS`; it answers access_token, token_type Bearer and
// expires_in, never a refresh token. Errors use Basiq's envelope
// ({"type":"list","data":[{"type":"error","code":"access-denied",...}]}):
// a missing or unknown key, or a missing or unsupported version, is 400
// parameter-not-valid; a bad body 400 invalid-request; a grant_type other
// than client_credentials 400 unsupported-grant-type; a disabled account 403
// access-denied; a deleted one 404 parameter-not-valid. Safe for concurrent
// use.
type Basiq struct {
	now func() time.Time

	mu       sync.Mutex
	ttl      time.Duration
	accounts map[string]BasiqAccount // API key -> account
	tokens   map[string]time.Time    // access token -> expiry
	requests []BasiqRequest
	failures []int // injected HTTP statuses (500, 503) for the next requests
}

// NewBasiq returns a Basiq fake issuing tokens that live ttl (0: 3600 s, the
// documented expires_in). now nil means time.Now.
func NewBasiq(ttl time.Duration, now func() time.Time) *Basiq {
	if ttl <= 0 {
		ttl = time.Hour
	}
	if now == nil {
		now = time.Now
	}
	return &Basiq{now: now, ttl: ttl, accounts: map[string]BasiqAccount{}, tokens: map[string]time.Time{}}
}

// AddKey registers an API key (as it would be pasted from the dashboard).
func (b *Basiq) AddKey(key string) { b.SetAccount(key, BasiqActive) }

// SetAccount changes the state of the account the key belongs to.
func (b *Basiq) SetAccount(key string, a BasiqAccount) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.accounts[key] = a
}

// FailNext makes the next request answer status (e.g. 500
// internal-server-error) before any checks.
func (b *Basiq) FailNext(status int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures = append(b.failures, status)
}

// Requests returns every request seen, in order.
func (b *Basiq) Requests() []BasiqRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.requests)
}

// Issued is the number of access tokens issued.
func (b *Basiq) Issued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.tokens)
}

// ValidToken reports whether tok was issued here and has not expired.
func (b *Basiq) ValidToken(tok string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	exp, ok := b.tokens[tok]
	return ok && b.now().Before(exp)
}

// Handler serves POST /token.
func (b *Basiq) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/token", b.serveToken)
	return mux
}

func (b *Basiq) serveToken(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
	b.mu.Lock()
	defer b.mu.Unlock()
	b.requests = append(b.requests, BasiqRequest{Authorization: r.Header.Get("Authorization"),
		Version: r.Header.Get("basiq-version"), ContentType: r.Header.Get("Content-Type"), Body: string(body)})
	if len(b.failures) > 0 {
		status := b.failures[0]
		b.failures = b.failures[1:]
		basiqError(w, status, "internal-server-error", "Internal Server Error", "An unexpected condition was encountered.")
		return
	}
	if r.Method != http.MethodPost {
		basiqError(w, http.StatusMethodNotAllowed, "invalid-request", "Method Not Allowed", "Use POST.")
		return
	}
	key, hasBasic := cutPrefixFold(r.Header.Get("Authorization"), "Basic ")
	account, known := b.accounts[key]
	switch v := r.Header.Get("basiq-version"); {
	case !hasBasic || key == "":
		basiqError(w, 400, "parameter-not-valid", "Parameter not valid.", "Authorization header parameter is required.")
		return
	case !known:
		basiqError(w, 400, "parameter-not-valid", "Parameter not valid.", "Authorization header parameter is invalid.")
		return
	case v != "2.0" && v != "3.0":
		basiqError(w, 400, "parameter-not-valid", "Parameter not valid.", "basiq-version header is required; older versions are no longer supported.")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		basiqError(w, 400, "invalid-request", "Invalid request.", "Content-Type must be application/x-www-form-urlencoded.")
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		basiqError(w, 400, "invalid-request", "Invalid request.", "Malformed body.")
		return
	}
	for k := range form {
		if k != "scope" && k != "grant_type" {
			basiqError(w, 400, "invalid-request", "Invalid request.", "Unsupported parameter "+k+".")
			return
		}
	}
	if gt := form["grant_type"]; gt != nil && (len(gt) != 1 || gt[0] != "client_credentials") {
		basiqError(w, 400, "unsupported-grant-type", "Unsupported grant type.", "The authorization grant type is not supported.")
		return
	}
	if sc := form["scope"]; len(sc) != 1 || (sc[0] != "SERVER_ACCESS" && sc[0] != "CLIENT_ACCESS") {
		basiqError(w, 400, "invalid-request", "Invalid request.", "scope must be SERVER_ACCESS or CLIENT_ACCESS.")
		return
	}
	switch account {
	case BasiqDisabled:
		basiqError(w, 403, "access-denied", "Forbidden", "Access to the requested resource is forbidden: the partner account is disabled.")
		return
	case BasiqDeleted:
		basiqError(w, 404, "parameter-not-valid", "Resource not found.", "The partner account has been deleted.")
		return
	}
	tok := randomToken("basiq_")
	b.tokens[tok] = b.now().Add(b.ttl)
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int64(b.ttl / time.Second)})
}

// basiqError writes Basiq's error envelope.
func basiqError(w http.ResponseWriter, status int, code, title, detail string) {
	body, _ := json.Marshal(map[string]any{
		"type":          "list",
		"correlationId": randomToken("")[:16],
		"data": []map[string]string{{
			"type": "error", "code": code, "title": title, "detail": detail,
		}},
	})
	setNoStore(w.Header(), "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return "", false
	}
	return s[len(prefix):], true
}
