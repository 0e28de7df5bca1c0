package grants

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func FuzzParseTokenResponse(f *testing.F) {
	f.Add([]byte(okBody), "application/json", int64(0))
	f.Add([]byte(`{"access_token":"a","expires_in":"1e999"}`), "application/json", int64(60))
	f.Add([]byte("access_token=a&expires_in=-1"), "application/x-www-form-urlencoded", int64(3600))
	f.Add([]byte(`{"type":"list","data":[{"type":"error","code":"invalid-grant"}]}`), "", int64(0))
	f.Add([]byte(`{"access_token":"`+makeJWT(`{"exp":1e10}`)+`"}`), "text/plain", int64(1))
	f.Fuzz(func(t *testing.T, body []byte, ctype string, lifetimeSec int64) {
		def := time.Duration(lifetimeSec) * time.Second
		if def < 0 {
			def = 0
		}
		tok, err := ParseTokenResponse(body, ctype, testNow, def)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not *Error", err)
			}
			if e.Code == "" || (e.Class != ClassPermanent && e.Class != ClassTransient) || e.Credential != "" {
				t.Fatalf("bad error %+v", *e)
			}
			if len(e.Description) > maxDescription || len(e.Code) > maxCode || !isVSChars(e.Description) || !isVSChars(e.Code) {
				t.Fatalf("unsanitised error %q / %q", e.Code, e.Description)
			}
			if !tok.AccessToken.IsZero() {
				t.Fatal("failure returned an access token")
			}
			return
		}
		if tok.AccessToken.IsZero() || tok.TokenType == "" || !isVSChars(tok.AccessToken.Reveal()) {
			t.Fatalf("success without a usable access token: %+v", tok)
		}
		if strings.EqualFold(tok.TokenType, "bearer") && tok.TokenType != "Bearer" {
			t.Fatalf("token type %q not normalised", tok.TokenType)
		}
		switch tok.ExpirySource {
		case "":
			if !tok.ExpiresAt.IsZero() {
				t.Fatalf("expiry %v without source", tok.ExpiresAt)
			}
		case "expires_in", "jwt", "default":
			if !tok.ExpiresAt.After(testNow) || tok.ExpiresAt.After(testNow.Add(maxLifetime)) {
				t.Fatalf("expiry %v out of range (%s)", tok.ExpiresAt, tok.ExpirySource)
			}
		default:
			t.Fatalf("unknown expiry source %q", tok.ExpirySource)
		}
	})
}

func FuzzJWTExpiry(f *testing.F) {
	f.Add(makeJWT(`{"exp":1740830400}`))
	f.Add(makeJWT(`{"exp":-1e308}`))
	f.Add("a.b.c")
	f.Add("..")
	f.Fuzz(func(t *testing.T, token string) {
		exp, ok := JWTExpiry(token)
		if !ok {
			if !exp.IsZero() {
				t.Fatalf("false with non-zero time %v", exp)
			}
			return
		}
		if exp.Unix() < 1 || exp.Unix() > maxJWTExp || strings.Count(token, ".") != 2 {
			t.Fatalf("implausible exp %v from %q", exp, token)
		}
	})
}

func FuzzParseRetryAfter(f *testing.F) {
	f.Add("120")
	f.Add("Sat, 01 Mar 2025 12:01:00 GMT")
	f.Add("-1")
	f.Add("18446744073709551616")
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := ParseRetryAfter(v, testNow)
		if !ok && d != 0 {
			t.Fatalf("false with duration %v", d)
		}
		if d < 0 || d > maxLifetime {
			t.Fatalf("ParseRetryAfter(%q) = %v out of range", v, d)
		}
	})
}
