package grants

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tokend/tokend/internal/secret"
)

// maxBodySize caps what is read of a token response (x/oauth2 uses the same).
const maxBodySize = 1 << 20

// maxLifetime clamps absurd lifetimes so time arithmetic cannot overflow.
const maxLifetime = 10 * 365 * 24 * time.Hour

// fields are the parts of a token-endpoint body tokend uses.
type fields struct {
	accessToken, tokenType, refreshToken, scope string
	expiresIn                                   time.Duration
	hasExpiresIn                                bool
	issuedTokenType                             string // RFC 8693 §2.2.1
	// refreshExpiresIn is refresh_token_expires_in (GitHub) or
	// x_refresh_token_expires_in (Intuit): the refresh token's own life.
	refreshExpiresIn    time.Duration
	hasRefreshExpiresIn bool
	hasError            bool
	code, description   string
	// value returns a top-level member as a string (JSON strings unquoted,
	// numbers and booleans in their JSON form), for the kept extra fields.
	value func(name string) (string, bool)
}

// ParseTokenResponse parses a 2xx token-endpoint body (RFC 6749 §5.1) as
// received at now. It accepts JSON and, like x/oauth2, form-encoded bodies
// (Content-Type application/x-www-form-urlencoded or text/plain). On failure
// it returns an *Error with empty Credential and Status 0: a body carrying
// `error` (RFC 6749 §5.2, or Basiq's envelope) is classified by its code;
// anything else unusable is Code "invalid_response", transient. On success
// the access token is non-empty.
func ParseTokenResponse(body []byte, contentType string, now time.Time, defaultLifetime time.Duration) (Token, error) {
	if len(body) > maxBodySize {
		return Token{}, &Error{Code: CodeResponseTooLarge, Class: ClassTransient, Description: "token response larger than 1 MiB"}
	}
	tok, e := parseSuccess(body, contentType, now, defaultLifetime, 0, nil, nil)
	if e != nil {
		return Token{}, e
	}
	return tok, nil
}

// parseSuccess parses the body of a 2xx answer; keep names the extra
// fields to copy into Token.Extra.
func parseSuccess(body []byte, contentType string, now time.Time, def time.Duration, status int, sensitive, keep []string) (Token, *Error) {
	f, ok := decode(body, contentType)
	if !ok {
		return Token{}, invalidResponse(status, "token response is not JSON or form-encoded")
	}
	if f.hasError {
		// Redact the body's own tokens too: a 2xx error may carry them.
		return Token{}, providerError(status, f.code, f.description, append(sensitive, f.accessToken, f.refreshToken))
	}
	switch {
	case f.accessToken == "":
		return Token{}, invalidResponse(status, "token response has no access_token")
	case !isVSChars(f.accessToken):
		return Token{}, invalidResponse(status, "access_token has characters outside RFC 6749 appendix A")
	case !isVSChars(f.refreshToken):
		return Token{}, invalidResponse(status, "refresh_token has characters outside RFC 6749 appendix A")
	case !isVSChars(f.tokenType):
		return Token{}, invalidResponse(status, "token_type has characters outside RFC 6749 appendix A")
	}
	tok := Token{
		AccessToken:  secret.New(f.accessToken),
		RefreshToken: secret.New(f.refreshToken),
		TokenType:    f.tokenType,
		Scope:        f.scope,
		IssuedAt:     now,
		// Informational (status, logs); only printable characters kept.
		IssuedTokenType: printable(f.issuedTokenType),
	}
	if tok.TokenType == "" || strings.EqualFold(tok.TokenType, "bearer") {
		tok.TokenType = "Bearer" // RFC 6750 §4 is case-insensitive; sinks get one spelling
	}
	tok.ExpiresAt, tok.ExpirySource = expiry(f, now, def)
	if f.hasRefreshExpiresIn {
		tok.RefreshTokenExpiresAt = now.Add(f.refreshExpiresIn)
	}
	tok.Extra = extraFields(f, keep)
	return tok, nil
}

// extraFields copies the kept fields present in the answer. A value with a
// character outside printable ASCII is left out: sinks write these into
// env files and headers.
func extraFields(f fields, keep []string) map[string]secret.Secret {
	var out map[string]secret.Secret
	for _, name := range keep {
		v, ok := f.value(name)
		if !ok || v == "" || !isVSChars(v) {
			continue
		}
		if out == nil {
			out = make(map[string]secret.Secret, len(keep))
		}
		out[name] = secret.New(v)
	}
	return out
}

// expiry picks expires_in, then a future JWT exp, then the default lifetime.
func expiry(f fields, now time.Time, def time.Duration) (time.Time, string) {
	if f.hasExpiresIn {
		return now.Add(f.expiresIn), "expires_in"
	}
	if exp, ok := JWTExpiry(f.accessToken); ok && exp.After(now) {
		if exp.Sub(now) > maxLifetime {
			exp = now.Add(maxLifetime)
		}
		return exp, "jwt"
	}
	if def > 0 {
		return now.Add(min(def, maxLifetime)), "default"
	}
	return time.Time{}, ""
}

// parseFailure builds the *Error for a non-2xx answer.
func parseFailure(body []byte, contentType string, status int, sensitive []string) *Error {
	f, _ := decode(body, contentType)
	if f.accessToken != "" || f.refreshToken != "" {
		sensitive = append(sensitive, f.accessToken, f.refreshToken)
	}
	return providerError(status, f.code, f.description, sensitive)
}

func invalidResponse(status int, desc string) *Error {
	return &Error{Status: status, Code: CodeInvalidResponse, Class: ClassTransient, Description: desc}
}

// decode reads the body as JSON or form per its media type. ok is false when
// the body is neither.
func decode(body []byte, contentType string) (fields, bool) {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "application/x-www-form-urlencoded", "text/plain":
		if mt == "text/plain" && bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
			return decodeJSON(body) // JSON mislabelled as text
		}
		return decodeForm(body)
	}
	return decodeJSON(body)
}

func decodeForm(body []byte) (fields, bool) {
	vals, err := url.ParseQuery(string(body))
	if err != nil && len(vals) == 0 {
		return fields{}, false
	}
	f := fields{
		accessToken:  vals.Get("access_token"),
		tokenType:    vals.Get("token_type"),
		refreshToken: vals.Get("refresh_token"),
		scope:        vals.Get("scope"),
		code:         vals.Get("error"),
		description:  vals.Get("error_description"),
	}
	f.issuedTokenType = vals.Get("issued_token_type")
	f.hasError = f.code != ""
	f.expiresIn, f.hasExpiresIn = parseSeconds(vals.Get("expires_in"))
	f.refreshExpiresIn, f.hasRefreshExpiresIn = parseSeconds(vals.Get("refresh_token_expires_in"))
	if !f.hasRefreshExpiresIn {
		f.refreshExpiresIn, f.hasRefreshExpiresIn = parseSeconds(vals.Get("x_refresh_token_expires_in"))
	}
	f.value = func(name string) (string, bool) { v, ok := vals[name]; return first(v), ok }
	return f, true
}

func decodeJSON(body []byte) (fields, bool) {
	m, ok := parseObject(body) // object.go
	if !ok {
		return fields{}, false
	}
	f := fields{
		accessToken:  jsonString(m.get("access_token")),
		tokenType:    jsonString(m.get("token_type")),
		refreshToken: jsonString(m.get("refresh_token")),
		scope:        jsonScope(m.get("scope")),
		code:         jsonString(m.get("error")),
		description:  jsonString(m.get("error_description")),
	}
	f.issuedTokenType = jsonString(m.get("issued_token_type"))
	f.hasError = errorPresent(m.get("error"))
	f.expiresIn, f.hasExpiresIn = jsonSeconds(m.get("expires_in"))
	f.refreshExpiresIn, f.hasRefreshExpiresIn = jsonSeconds(m.get("refresh_token_expires_in"))
	if !f.hasRefreshExpiresIn {
		f.refreshExpiresIn, f.hasRefreshExpiresIn = jsonSeconds(m.get("x_refresh_token_expires_in"))
	}
	f.value = func(name string) (string, bool) { return jsonValue(m.get(name)) }
	if !f.hasError {
		f.code, f.description, f.hasError = basiqError(m)
	}
	return f, true
}

// jsonSeconds reads a lifetime member: a JSON number, possibly quoted.
func jsonSeconds(raw json.RawMessage) (time.Duration, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0, false
	}
	if raw[0] != '"' {
		return parseSeconds(string(raw))
	}
	if s, err := strconv.Unquote(string(raw)); err == nil {
		raw = []byte(s)
	}
	return parseSeconds(string(raw))
}

// jsonValue renders a member for Token.Extra: a string as is, any other
// JSON value (number, boolean, object, array) in its compact JSON form;
// absent and null are not present.
func jsonValue(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", false
	}
	if raw[0] == '"' {
		return jsonString(raw), true
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return "", false
	}
	return b.String(), true
}

// first is the first of a form field's values, or "".
func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// basiqError reads Basiq's envelope:
// {"type":"list","data":[{"type":"error","code":"invalid-grant","title":"..","detail":".."}]}.
func basiqError(m object) (code, desc string, ok bool) {
	if jsonString(m.get("type")) != "list" {
		return "", "", false
	}
	var items []map[string]json.RawMessage
	if json.Unmarshal(m.get("data"), &items) != nil {
		return "", "", false
	}
	for _, it := range items {
		if jsonString(it["type"]) != "error" {
			continue
		}
		desc = jsonString(it["detail"])
		if desc == "" {
			desc = jsonString(it["title"])
		}
		return jsonString(it["code"]), desc, true
	}
	return "", "", false
}

// errorPresent reports whether an `error` member signals failure: a
// non-empty string, true, or an object/array. null, false, "" and numbers
// do not (some APIs send "error": false on success).
func errorPresent(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return false
	}
	switch raw[0] {
	case '"':
		return jsonString(raw) != ""
	case 't', '{', '[':
		return true
	}
	return false
}

// jsonString returns raw as a string when it is a JSON string, else "".
func jsonString(raw json.RawMessage) string {
	if s, ok := plainString(raw); ok { // the common case, without encoding/json's allocations
		return s
	}
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// jsonScope accepts the RFC's space-separated string and the array some
// providers send instead.
func jsonScope(raw json.RawMessage) string {
	if s := jsonString(raw); s != "" {
		return s
	}
	var list []string
	if len(raw) > 0 && json.Unmarshal(raw, &list) == nil {
		return strings.Join(list, " ")
	}
	return ""
}

// parseSeconds parses an expires_in value: a JSON number, possibly quoted.
// Zero, negative and non-numeric values are absent; huge ones are clamped.
func parseSeconds(s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	if s == "" || !(s[0] == '-' || s[0] >= '0' && s[0] <= '9') || !json.Valid([]byte(s)) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	if math.IsNaN(f) || f <= 0 {
		return 0, false
	}
	if f >= maxLifetime.Seconds() {
		return maxLifetime, true
	}
	d := time.Duration(f * float64(time.Second))
	if d <= 0 {
		return 0, false
	}
	return d, true
}

// isVSChars reports whether s consists of RFC 6749 appendix A VSCHARs
// (%x20-7E). Anything else could corrupt a header or an env file downstream.
func isVSChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
