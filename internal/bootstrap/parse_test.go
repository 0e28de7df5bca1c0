package bootstrap

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/fakeprovider"
)

func TestParseImport(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	jwt := func(exp int64) string {
		enc := base64.RawURLEncoding.EncodeToString
		return enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(`{"exp":`+itoa(exp)+`}`)) + "." + enc([]byte("sig"))
	}
	tests := []struct {
		name, in           string
		rt, at, typ, scope string
		exp                time.Time
		source             string
	}{
		{name: "refresh token line", in: "rt-abc.def_123\n", rt: "rt-abc.def_123"},
		{name: "CRLF", in: "rt-x\r\n", rt: "rt-x"},
		{name: "apicbase response", in: `{"access_token":"at-1","expires_in":604800,"token_type":"Bearer","scope":"accounts library","refresh_token":"rt-1"}`,
			rt: "rt-1", at: "at-1", typ: "Bearer", scope: "accounts library", exp: now.Add(7 * 24 * time.Hour), source: "expires_in"},
		{name: "expires_in string, bearer lower", in: `{"access_token":"at","expires_in":"60","token_type":"bearer"}`,
			at: "at", typ: "Bearer", exp: now.Add(time.Minute), source: "expires_in"},
		{name: "expires_at RFC 3339", in: `{"refresh_token":"rt","access_token":"at","expires_at":"2030-01-02T00:00:00Z","scope":["a","b"]}`,
			rt: "rt", at: "at", typ: "Bearer", scope: "a b", exp: now.Add(24 * time.Hour), source: "expires_at"},
		{name: "expires_at epoch", in: `{"access_token":"at","expires_at":1893499200}`,
			at: "at", typ: "Bearer", exp: time.Unix(1893499200, 0).UTC(), source: "expires_at"},
		{name: "JWT exp", in: `{"access_token":"` + jwt(now.Add(time.Hour).Unix()) + `","refresh_token":"rt"}`,
			rt: "rt", at: jwt(now.Add(time.Hour).Unix()), typ: "Bearer", exp: now.Add(time.Hour), source: "jwt"},
		{name: "no expiry", in: `{"access_token":"opaque","refresh_token":"rt"}`, rt: "rt", at: "opaque", typ: "Bearer"},
		{name: "refresh only JSON", in: `{"refresh_token":"rt","other":1}`, rt: "rt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			im, err := ParseImport([]byte(tc.in), now)
			if err != nil {
				t.Fatal(err)
			}
			tk := im.Token
			if tk.RefreshToken.Reveal() != tc.rt || tk.AccessToken.Reveal() != tc.at || tk.TokenType != tc.typ || tk.Scope != tc.scope ||
				!tk.ExpiresAt.Equal(tc.exp) || im.ExpirySource != tc.source {
				t.Errorf("got %+v source %q", tk, im.ExpirySource)
			}
		})
	}
	for name, in := range map[string]string{
		"empty":           " \n",
		"two lines":       "rt-secret-1\nrt-secret-2\n",
		"space inside":    "rt secret",
		"control char":    "rt-secret\x01",
		"broken JSON":     `{"refresh_token":"rt-secret"`,
		"no tokens":       `{"token_type":"Bearer"}`,
		"number token":    `{"refresh_token":12345}`,
		"bad expires_in":  `{"access_token":"rt-secret","expires_in":-5}`,
		"bad expires_at":  `{"access_token":"rt-secret","expires_at":"tomorrow"}`,
		"two objects":     `{"refresh_token":"rt-secret"} {}`,
		"non-ASCII token": `{"refresh_token":"rt-secret-ü"}`,
		"too large":       strings.Repeat("a", maxImport+1),
	} {
		_, err := ParseImport([]byte(in), now)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), "rt-secret") {
			t.Errorf("%s: error quotes the input: %v", name, err)
		}
	}
}

func TestCompleteExpiry(t *testing.T) {
	f := startFake(t, fakeprovider.ApicbaseOptions())
	f.AddClient("apic", "apic-secret")
	cfg := apicbaseConfig(t, f, "")
	c := client(t, &cfg.Credentials[0])
	now := f.clk.Now()
	// An access token the provider knows: its exp comes from introspection.
	rt := f.IssueRefreshToken("apic", "accounts library")
	res, err := c.Refresh(context.Background(), secretOf(rt))
	if err != nil {
		t.Fatal(err)
	}
	im, _ := ParseImport([]byte(`{"access_token":"`+res.AccessToken.Reveal()+`","refresh_token":"`+res.RefreshToken.Reveal()+`"}`), now)
	note := CompleteExpiry(context.Background(), c, &im, now)
	if im.ExpirySource != "introspection" || !im.Token.ExpiresAt.Equal(now.Add(7*24*time.Hour).Truncate(time.Second)) || !strings.Contains(note, "introspection") {
		t.Errorf("active token: %+v %q (%s)", im.Token, im.ExpirySource, note)
	}
	// An unknown one is dropped; the refresh token stays.
	im, _ = ParseImport([]byte(`{"access_token":"at-unknown","refresh_token":"rt-keep"}`), now)
	note = CompleteExpiry(context.Background(), c, &im, now)
	if !im.Token.AccessToken.IsZero() || im.Token.RefreshToken.Reveal() != "rt-keep" || !strings.Contains(note, "inactive") {
		t.Errorf("inactive token: %+v (%s)", im.Token, note)
	}
	// Without introspection the same happens; a known expiry is left alone.
	im, _ = ParseImport([]byte(`{"access_token":"at","refresh_token":"rt"}`), now)
	if note := CompleteExpiry(context.Background(), nil, &im, now); !im.Token.AccessToken.IsZero() || !strings.Contains(note, "refreshes with the refresh token at once") {
		t.Errorf("no introspection: %+v (%s)", im.Token, note)
	}
	im, _ = ParseImport([]byte(`{"access_token":"at","expires_in":60}`), now)
	if note := CompleteExpiry(context.Background(), c, &im, now); note != "" || im.Token.AccessToken.IsZero() {
		t.Errorf("known expiry changed: %q", note)
	}
}
