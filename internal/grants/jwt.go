package grants

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// maxJWTExp is 9999-12-31T23:59:59Z; later values are not plausible dates.
const maxJWTExp = 253402300799

// JWTExpiry reads the `exp` claim (RFC 7519 §4.1.4) from token if it looks
// like a compact JWS: three base64url parts whose first two decode to JSON
// objects, with exp a number of seconds from 1 to year 9999. The signature
// is not verified: the value only schedules a refresh. Anything else reports
// false.
func JWTExpiry(token string) (time.Time, bool) {
	if strings.Count(token, ".") != 2 {
		return time.Time{}, false
	}
	parts := strings.SplitN(token, ".", 3)
	if _, ok := decodeJSONPart(parts[0]); !ok || !isBase64URL(parts[2]) {
		return time.Time{}, false
	}
	claims, ok := decodeJSONPart(parts[1])
	if !ok {
		return time.Time{}, false
	}
	raw := bytes.TrimSpace(claims["exp"])
	if len(raw) == 0 || !(raw[0] >= '0' && raw[0] <= '9') {
		return time.Time{}, false // absent, string, negative, null, ...
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(f) || f < 1 || f > maxJWTExp {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}

// decodeJSONPart decodes one base64url (unpadded, RFC 7515 §2) part as a
// JSON object.
func decodeJSONPart(p string) (map[string]json.RawMessage, bool) {
	if p == "" || !isBase64URL(p) {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return nil, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil || m == nil {
		return nil, false
	}
	return m, true
}

func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
