package grants

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/secret"
)

// hydraReuse is the error_description Ory Hydra (fosite) answers to a
// refresh token presented twice: ErrInvalidGrant's description, then its
// hint (fosite handler/oauth2/flow_refresh.go, errors.go GetDescription).
const hydraReuse = "The provided authorization grant (e.g., authorization code, resource owner credentials) or refresh token " +
	"is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued " +
	"to another client. The refresh token was already used."

// TestProviderQuirkErrors: answers that providers really send, classified
// by their code and keeping their informative part.
func TestProviderQuirkErrors(t *testing.T) {
	tests := []struct {
		name     string
		rep      reply
		code     string
		class    Class
		contains string
	}{
		// GitHub answers token errors with HTTP 200 (docs: "Refreshing
		// user access tokens", "Troubleshooting OAuth app access token
		// request errors").
		{"GitHub 200 bad_refresh_token", reply{Status: 200, Body: `{"error":"bad_refresh_token","error_description":"The refresh token passed is incorrect or expired.","error_uri":"https://docs.github.com"}`},
			"bad_refresh_token", ClassPermanent, "incorrect or expired"},
		{"GitHub 200 bad_refresh_token form-encoded", reply{Status: 200, Type: "application/x-www-form-urlencoded",
			Body: "error=bad_refresh_token&error_description=The+refresh+token+passed+is+incorrect+or+expired."},
			"bad_refresh_token", ClassPermanent, "incorrect or expired"},
		{"GitHub 200 incorrect_client_credentials", reply{Status: 200, Body: `{"error":"incorrect_client_credentials","error_description":"The client_id and/or client_secret passed are incorrect."}`},
			"incorrect_client_credentials", ClassPermanent, "are incorrect"},
		{"200 invalid_grant", reply{Status: 200, Body: `{"error":"invalid_grant"}`}, "invalid_grant", ClassPermanent, ""},
		{"200 unknown code stays transient", reply{Status: 200, Body: `{"error":"something_odd"}`}, "something_odd", ClassTransient, ""},
		// The whole Hydra text survives, hint included (it was cut at 200
		// characters, before the hint).
		{"Hydra reuse", reply{Status: 400, Body: `{"error":"invalid_grant","error_description":"` + hydraReuse + `"}`},
			"invalid_grant", ClassPermanent, "The refresh token was already used."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ep := newEndpoint(t, tc.rep)
			_, err := newTestClient(t, ep.URL, func(c *Config) { c.Grant = GrantRefreshToken }).Renew(context.Background(), newRT())
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if e.Code != tc.code || e.Class != tc.class || !strings.Contains(e.Description, tc.contains) {
				t.Fatalf("got code %q class %s description %q; want %q %s containing %q", e.Code, e.Class, e.Description, tc.code, tc.class, tc.contains)
			}
		})
	}
}

// TestLongDescriptionRedactedAndCapped: a description that echoes the sent
// refresh token keeps its text, never the token; control characters are
// flattened; the cap still holds.
func TestLongDescriptionRedactedAndCapped(t *testing.T) {
	body := `{"error":"invalid_grant","error_description":"` + hydraReuse + ` token=rt-current-value\u0007\n` + strings.Repeat("z", 2000) + `"}`
	ep := newEndpoint(t, reply{Status: 400, Body: body})
	_, err := newTestClient(t, ep.URL, func(c *Config) { c.Grant = GrantRefreshToken }).Renew(context.Background(), newRT())
	var e *Error
	if !errors.As(err, &e) {
		t.Fatal(err)
	}
	if strings.Contains(err.Error(), "rt-current-value") || !strings.Contains(e.Description, "token="+secret.Redacted) {
		t.Fatalf("description not redacted: %q", e.Description)
	}
	if len(e.Description) != maxDescription || !isVSChars(e.Description) || !strings.Contains(e.Description, "already used") {
		t.Fatalf("description len %d, printable %v: %q", len(e.Description), isVSChars(e.Description), e.Description)
	}
}

// TestRefreshTokenExpiresIn: GitHub's refresh_token_expires_in and Intuit's
// x_refresh_token_expires_in give the refresh token's own expiry.
func TestRefreshTokenExpiresIn(t *testing.T) {
	tests := []struct {
		name string
		rep  reply
		want time.Duration // 0: no expiry
	}{
		{"GitHub JSON", reply{Body: `{"access_token":"ghu_x","expires_in":28800,"refresh_token":"ghr_y","refresh_token_expires_in":15811200,"token_type":"bearer","scope":""}`},
			15811200 * time.Second},
		{"GitHub form", reply{Type: "application/x-www-form-urlencoded",
			Body: "access_token=ghu_x&expires_in=28800&refresh_token=ghr_y&refresh_token_expires_in=15811200&scope=&token_type=bearer"},
			15811200 * time.Second},
		{"Intuit x_ quoted", reply{Body: `{"access_token":"a","refresh_token":"r","expires_in":3600,"x_refresh_token_expires_in":"8726400"}`},
			8726400 * time.Second},
		{"absent", reply{Body: okBody}, 0},
		{"zero is absent", reply{Body: `{"access_token":"a","refresh_token_expires_in":0}`}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ep := newEndpoint(t, tc.rep)
			tok, err := newTestClient(t, ep.URL, nil).ClientCredentials(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var want time.Time
			if tc.want > 0 {
				want = testNow.Add(tc.want)
			}
			if !tok.RefreshTokenExpiresAt.Equal(want) {
				t.Fatalf("RefreshTokenExpiresAt = %v, want %v", tok.RefreshTokenExpiresAt, want)
			}
		})
	}
}

// TestExtraFields: the named fields are kept, as strings, and nothing else.
func TestExtraFields(t *testing.T) {
	keep := []string{"instance_url", "id_token", "api_domain", "issued_at", "missing"}
	tests := []struct {
		name string
		rep  reply
		want map[string]string
	}{
		{"Salesforce", reply{Body: `{"access_token":"00Dx!AQ","instance_url":"https://acme.my.salesforce.com","id":"https://login.salesforce.com/id/00D/005","token_type":"Bearer","issued_at":"1700000000000","signature":"c2ln"}`},
			map[string]string{"instance_url": "https://acme.my.salesforce.com", "issued_at": "1700000000000"}},
		{"Zoho", reply{Body: `{"access_token":"1000.x","api_domain":"https://www.zohoapis.eu","token_type":"Bearer","expires_in":3600}`},
			map[string]string{"api_domain": "https://www.zohoapis.eu"}},
		{"OIDC id_token, number", reply{Body: `{"access_token":"a","id_token":"eyJ.eyJ.sig","issued_at":1700000000}`},
			map[string]string{"id_token": "eyJ.eyJ.sig", "issued_at": "1700000000"}},
		{"form", reply{Type: "application/x-www-form-urlencoded", Body: "access_token=a&instance_url=https%3A%2F%2Fx.example"},
			map[string]string{"instance_url": "https://x.example"}},
		{"non-printable dropped, null absent", reply{Body: `{"access_token":"a","instance_url":"https://x\n.example","id_token":null}`}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ep := newEndpoint(t, tc.rep)
			tok, err := newTestClient(t, ep.URL, func(c *Config) { c.ExtraFields = keep }).ClientCredentials(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(tok.Extra) != len(tc.want) {
				t.Fatalf("Extra has %d fields, want %v", len(tok.Extra), tc.want)
			}
			for k, v := range tc.want {
				if got := tok.Extra[k].Reveal(); got != v {
					t.Errorf("Extra[%s] = %q, want %q", k, got, v)
				}
			}
		})
	}
	for _, bad := range []string{"refresh_token", "access_token", "", "a b"} {
		if err := Validate(Config{Name: "x", Grant: GrantClientCredentials, TokenURL: "https://x.example/t", ExtraFields: []string{bad}}); err == nil {
			t.Errorf("extra field %q accepted", bad)
		}
	}
}
