package grants

import (
	"encoding/base64"
	"testing"
	"time"
)

func TestJWTExpiry(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	hdr := enc([]byte(`{"alg":"HS256"}`))
	tests := []struct {
		name  string
		token string
		want  time.Time
		ok    bool
	}{
		{"integer exp", makeJWT(`{"exp":1740830400}`), time.Unix(1740830400, 0).UTC(), true},
		{"fractional exp", makeJWT(`{"exp":1740830400.5}`), time.Unix(1740830400, 5e8).UTC(), true},
		{"empty signature (alg none)", hdr + "." + enc([]byte(`{"exp":100}`)) + ".", time.Unix(100, 0).UTC(), true},
		{"max year 9999", makeJWT(`{"exp":253402300799}`), time.Unix(253402300799, 0).UTC(), true},
		{"beyond 9999", makeJWT(`{"exp":253402300800}`), time.Time{}, false},
		{"exp as string", makeJWT(`{"exp":"1740830400"}`), time.Time{}, false},
		{"exp zero", makeJWT(`{"exp":0}`), time.Time{}, false},
		{"exp negative", makeJWT(`{"exp":-5}`), time.Time{}, false},
		{"exp null", makeJWT(`{"exp":null}`), time.Time{}, false},
		{"exp huge", makeJWT(`{"exp":1e400}`), time.Time{}, false},
		{"no exp", makeJWT(`{"sub":"x"}`), time.Time{}, false},
		{"payload not an object", makeJWT(`[1]`), time.Time{}, false},
		{"payload not JSON", makeJWT(`exp=5`), time.Time{}, false},
		{"padded payload", hdr + "." + base64.URLEncoding.EncodeToString([]byte(`{"exp":12}`)) + ".sig", time.Time{}, false},
		{"std base64 payload", hdr + "." + "eyJleHAiOjF9+/" + ".sig", time.Time{}, false},
		{"header not JSON", enc([]byte("nope")) + "." + enc([]byte(`{"exp":1}`)) + ".sig", time.Time{}, false},
		{"empty header", "." + enc([]byte(`{"exp":1}`)) + ".sig", time.Time{}, false},
		{"two parts", hdr + "." + enc([]byte(`{"exp":1}`)), time.Time{}, false},
		{"JWE five parts", hdr + ".a.b.c.d", time.Time{}, false},
		{"opaque", "2YotnFZFEjr1zCsicMWpAA", time.Time{}, false},
		{"empty", "", time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := JWTExpiry(tt.token)
			if ok != tt.ok || !got.Equal(tt.want) {
				t.Errorf("JWTExpiry = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}
