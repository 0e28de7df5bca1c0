package grants

import (
	"errors"
	"strconv"
	"testing"
	"time"
)

func TestParseTokenResponseExpiry(t *testing.T) {
	future := testNow.Add(2 * time.Hour).Unix()
	jwt := makeJWT(`{"sub":"x","exp":` + itoa(future) + `}`)
	pastJWT := makeJWT(`{"exp":` + itoa(testNow.Add(-time.Hour).Unix()) + `}`)
	farJWT := makeJWT(`{"exp":253402300799}`)
	const hour = time.Hour
	tests := []struct {
		name    string
		body    string
		def     time.Duration
		wantExp time.Time
		wantSrc string
	}{
		{"number", `{"access_token":"a","expires_in":3600}`, 0, testNow.Add(hour), "expires_in"},
		{"fractional number", `{"access_token":"a","expires_in":1.5}`, 0, testNow.Add(1500 * time.Millisecond), "expires_in"},
		{"exponent number", `{"access_token":"a","expires_in":3.6e3}`, 0, testNow.Add(hour), "expires_in"},
		{"numeric string", `{"access_token":"a","expires_in":"3600"}`, 0, testNow.Add(hour), "expires_in"},
		{"numeric string with spaces", `{"access_token":"a","expires_in":" 60 "}`, 0, testNow.Add(time.Minute), "expires_in"},
		{"zero falls back to default", `{"access_token":"a","expires_in":0}`, 5 * time.Minute, testNow.Add(5 * time.Minute), "default"},
		{"negative falls back", `{"access_token":"a","expires_in":-30}`, 5 * time.Minute, testNow.Add(5 * time.Minute), "default"},
		{"garbage string falls back", `{"access_token":"a","expires_in":"soon"}`, 5 * time.Minute, testNow.Add(5 * time.Minute), "default"},
		{"NaN string falls back", `{"access_token":"a","expires_in":"NaN"}`, 5 * time.Minute, testNow.Add(5 * time.Minute), "default"},
		{"hex string falls back", `{"access_token":"a","expires_in":"0x10"}`, 0, time.Time{}, ""},
		{"null falls back", `{"access_token":"a","expires_in":null}`, 0, time.Time{}, ""},
		{"bool falls back", `{"access_token":"a","expires_in":true}`, 0, time.Time{}, ""},
		{"huge clamped", `{"access_token":"a","expires_in":1e300}`, 0, testNow.Add(maxLifetime), "expires_in"},
		{"beyond float64 clamped", `{"access_token":"a","expires_in":1e400}`, 0, testNow.Add(maxLifetime), "expires_in"},
		{"huge string clamped", `{"access_token":"a","expires_in":"99999999999999999999"}`, 0, testNow.Add(maxLifetime), "expires_in"},
		{"absent, JWT exp", `{"access_token":"` + jwt + `"}`, time.Minute, time.Unix(future, 0).UTC(), "jwt"},
		{"expires_in beats JWT", `{"access_token":"` + jwt + `","expires_in":60}`, 0, testNow.Add(time.Minute), "expires_in"},
		{"absent, JWT exp in the past, default", `{"access_token":"` + pastJWT + `"}`, time.Minute, testNow.Add(time.Minute), "default"},
		{"absent, JWT exp far future clamped", `{"access_token":"` + farJWT + `"}`, 0, testNow.Add(maxLifetime), "jwt"},
		{"absent, default", `{"access_token":"opaque"}`, 10 * time.Minute, testNow.Add(10 * time.Minute), "default"},
		{"huge default clamped", `{"access_token":"opaque"}`, 1 << 62, testNow.Add(maxLifetime), "default"},
		{"absent, nothing", `{"access_token":"opaque"}`, 0, time.Time{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := ParseTokenResponse([]byte(tt.body), "application/json", testNow, tt.def)
			if err != nil {
				t.Fatal(err)
			}
			if !tok.ExpiresAt.Equal(tt.wantExp) || tok.ExpirySource != tt.wantSrc {
				t.Errorf("ExpiresAt = %v (%q), want %v (%q)", tok.ExpiresAt, tok.ExpirySource, tt.wantExp, tt.wantSrc)
			}
			if !tok.IssuedAt.Equal(testNow) {
				t.Errorf("IssuedAt = %v", tok.IssuedAt)
			}
		})
	}
}

func TestParseTokenResponseFields(t *testing.T) {
	tests := []struct {
		name, body, ctype       string
		access, refresh, typ, s string
	}{
		{"json full", `{"access_token":"at","refresh_token":"rt","token_type":"bearer","scope":"a b"}`, "application/json; charset=utf-8", "at", "rt", "Bearer", "a b"},
		{"BEARER normalised", `{"access_token":"at","token_type":"BEARER"}`, "application/json", "at", "", "Bearer", ""},
		{"absent type is Bearer", `{"access_token":"at"}`, "", "at", "", "Bearer", ""},
		{"other type kept", `{"access_token":"at","token_type":"MAC"}`, "application/json", "at", "", "MAC", ""},
		{"scope array", `{"access_token":"at","scope":["a","b"]}`, "application/json", "at", "", "Bearer", "a b"},
		{"error false is success", `{"access_token":"at","error":false}`, "application/json", "at", "", "Bearer", ""},
		{"error null is success", `{"access_token":"at","error":null,"error_description":null}`, "application/json", "at", "", "Bearer", ""},
		{"form", "access_token=at%2B1&refresh_token=rt&token_type=bearer&expires_in=60&scope=x+y", "application/x-www-form-urlencoded", "at+1", "rt", "Bearer", "x y"},
		{"text/plain form (GitHub style)", "access_token=at&token_type=bearer", "text/plain", "at", "", "Bearer", ""},
		{"text/plain JSON", `{"access_token":"at"}`, "text/plain; charset=utf-8", "at", "", "Bearer", ""},
		{"vendor JSON type", `{"access_token":"at"}`, "application/vnd.api+json", "at", "", "Bearer", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := ParseTokenResponse([]byte(tt.body), tt.ctype, testNow, 0)
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken.Reveal() != tt.access || tok.RefreshToken.Reveal() != tt.refresh || tok.TokenType != tt.typ || tok.Scope != tt.s {
				t.Errorf("got %q %q %q %q", tok.AccessToken.Reveal(), tok.RefreshToken.Reveal(), tok.TokenType, tok.Scope)
			}
		})
	}
}

func TestParseTokenResponseFailures(t *testing.T) {
	tests := []struct {
		name, body, ctype string
		code              string
		class             Class
	}{
		{"empty", "", "application/json", CodeInvalidResponse, ClassTransient},
		{"html", "<html>oops</html>", "text/html", CodeInvalidResponse, ClassTransient},
		{"json array", `[{"access_token":"a"}]`, "application/json", CodeInvalidResponse, ClassTransient},
		{"json null", `null`, "application/json", CodeInvalidResponse, ClassTransient},
		{"no access token", `{"token_type":"bearer"}`, "application/json", CodeInvalidResponse, ClassTransient},
		{"empty access token", `{"access_token":""}`, "application/json", CodeInvalidResponse, ClassTransient},
		{"numeric access token", `{"access_token":12345}`, "application/json", CodeInvalidResponse, ClassTransient},
		{"access token with newline", `{"access_token":"a\nb"}`, "application/json", CodeInvalidResponse, ClassTransient},
		{"refresh token with NUL", `{"access_token":"a","refresh_token":"r\u0000"}`, "application/json", CodeInvalidResponse, ClassTransient},
		{"token type with newline", `{"access_token":"a","token_type":"bearer\nX: y"}`, "application/json", CodeInvalidResponse, ClassTransient},
		{"html as text/plain", "<html>oops</html>", "text/plain", CodeInvalidResponse, ClassTransient},
		{"error string", `{"error":"invalid_grant"}`, "application/json", "invalid_grant", ClassPermanent},
		{"error with access token", `{"access_token":"a","error":"server_error"}`, "application/json", "server_error", ClassTransient},
		{"error true", `{"access_token":"a","error":true}`, "application/json", CodeInvalidResponse, ClassTransient},
		{"error object", `{"error":{"code":1}}`, "application/json", CodeInvalidResponse, ClassTransient},
		{"unknown error code", `{"error":"weird"}`, "application/json", "weird", ClassTransient},
		{"form error", "error=invalid_client", "application/x-www-form-urlencoded", "invalid_client", ClassPermanent},
		{"basiq envelope in 200", `{"type":"list","data":[{"type":"error","code":"invalid-grant","title":"t"}]}`, "application/json", "invalid_grant", ClassPermanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := ParseTokenResponse([]byte(tt.body), tt.ctype, testNow, time.Hour)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, token %+v", err, tok)
			}
			if e.Code != tt.code || e.Class != tt.class || e.Credential != "" || e.Status != 0 {
				t.Errorf("got %+v, want code %s class %s", *e, tt.code, tt.class)
			}
			if !tok.AccessToken.IsZero() {
				t.Error("failure returned a token")
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
