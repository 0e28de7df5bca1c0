package fakeprovider

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"mime"
	"net/http"
	"sync"
)

// STS is a strict RFC 8693 token-exchange endpoint: a form POST with
// grant_type urn:ietf:params:oauth:grant-type:token-exchange, a
// subject_token that Valid accepts, the subject_token_type Valid expects and
// the configured audience (when set). It answers (§2.2.1) a fresh
// access_token with issued_token_type ...:access_token, token_type Bearer
// and expires_in; errors are §2.2.2's invalid_request / invalid_target /
// invalid_grant with 400. Safe for concurrent use.
type STS struct {
	// Valid reports whether subject is a token the STS trusts, of type typ.
	Valid func(subject, typ string) bool
	// Audience, when set, must be the request's audience.
	Audience string
	// TTL is the expires_in of issued tokens, in seconds.
	TTL int

	mu       sync.Mutex
	issued   []string
	subjects []string
	rejected []string
}

// ServeHTTP is the token endpoint.
func (s *STS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.Method != http.MethodPost || mt != "application/x-www-form-urlencoded" || r.ParseForm() != nil {
		s.fail(w, "invalid_request", "form POST required")
		return
	}
	f := r.PostForm
	switch {
	case f.Get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange":
		s.fail(w, "unsupported_grant_type", "token exchange only")
		return
	case f.Get("subject_token") == "" || f.Get("subject_token_type") == "":
		s.fail(w, "invalid_request", "subject_token and subject_token_type are required")
		return
	case s.Audience != "" && f.Get("audience") != s.Audience:
		s.fail(w, "invalid_target", "unknown audience")
		return
	case !s.Valid(f.Get("subject_token"), f.Get("subject_token_type")):
		s.fail(w, "invalid_grant", "subject token not accepted")
		return
	}
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	tok := "sts-" + hex.EncodeToString(raw[:])
	s.mu.Lock()
	s.issued = append(s.issued, tok)
	s.subjects = append(s.subjects, f.Get("subject_token"))
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": s.TTL,
		"issued_token_type": "urn:ietf:params:oauth:token-type:access_token"})
}

func (s *STS) fail(w http.ResponseWriter, code, desc string) {
	s.mu.Lock()
	s.rejected = append(s.rejected, code+": "+desc)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// Issued lists the tokens issued, in order.
func (s *STS) Issued() []string {
	return locked(&s.mu, &s.issued)
}

// Subjects lists the subject token of each successful exchange.
func (s *STS) Subjects() []string {
	return locked(&s.mu, &s.subjects)
}

// Rejected lists why each refused request was refused.
func (s *STS) Rejected() []string {
	return locked(&s.mu, &s.rejected)
}
