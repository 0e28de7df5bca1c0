package config

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/secret"
)

// TestPresetsSpeakTheirProvidersWire sends a refresh through each identity
// provider preset to a fake that checks the client authentication the
// provider documents and answers the way its docs show: Google and Zoho
// without a new refresh token (the old one stays), GitHub and Xero with a
// rotated one and a fixed lifetime, Salesforce without expires_in (the
// preset's lifetime applies). token_url is pointed at the fake; everything
// else comes from the preset.
func TestPresetsSpeakTheirProvidersWire(t *testing.T) {
	for _, tc := range []struct {
		preset, extra string
		auth          grants.AuthStyle
		answer        string
		rotates       bool
		life          time.Duration
		source        string
	}{
		{"google", "", grants.AuthPost, `{"access_token":"ya29.a","expires_in":3599,"scope":"s","token_type":"Bearer"}`, false, 3599 * time.Second, "expires_in"},
		{"microsoft", `tenant = "common"`, grants.AuthPost, `{"token_type":"Bearer","scope":"s","expires_in":4435,"ext_expires_in":4435,"access_token":"eyJ0.x.y","refresh_token":"0.AAA-new"}`, true, 4435 * time.Second, "expires_in"},
		{"github", "", grants.AuthPost, `{"access_token":"ghu_new","expires_in":28800,"refresh_token":"ghr_new","refresh_token_expires_in":15897600,"scope":"","token_type":"bearer"}`, true, 8 * time.Hour, "expires_in"},
		{"salesforce", "", grants.AuthPost, `{"access_token":"00Dxx!AQ","signature":"sig=","scope":"api refresh_token","instance_url":"https://acme.my.salesforce.com","id":"https://login.salesforce.com/id/00D/005","token_type":"Bearer","issued_at":"1700000000000"}`, false, time.Hour, "default"},
		{"xero", "", grants.AuthBasic, `{"id_token":"eyJ.a.b","access_token":"eyJ.c.d","expires_in":1800,"token_type":"Bearer","refresh_token":"xero-rt-new","scope":"offline_access"}`, true, 30 * time.Minute, "expires_in"},
		{"okta", `domain = "example.okta.com"`, grants.AuthBasic, `{"token_type":"Bearer","expires_in":3600,"access_token":"eyJ.o.k","scope":"offline_access","refresh_token":"okta-rt-new"}`, true, time.Hour, "expires_in"},
		{"auth0", `domain = "example.eu.auth0.com"`, grants.AuthPost, `{"access_token":"eyJ.a.0","expires_in":86400,"scope":"offline_access","token_type":"Bearer"}`, false, 24 * time.Hour, "expires_in"},
		{"zoho", "", grants.AuthPost, `{"access_token":"1000.abc","api_domain":"https://www.zohoapis.com","token_type":"Bearer","expires_in":3600}`, false, time.Hour, "expires_in"},
	} {
		t.Run(tc.preset, func(t *testing.T) {
			var problem string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				form, _ := url.ParseQuery(string(b))
				user, pass, basic := r.BasicAuth()
				switch {
				case form.Get("grant_type") != "refresh_token" || form.Get("refresh_token") != "rt-old":
					problem = "grant: " + string(b)
				case tc.auth == grants.AuthBasic && (!basic || user != "cid" || pass != "csecret" || form.Has("client_secret")):
					problem = "want client_secret_basic"
				case tc.auth == grants.AuthPost && (basic || form.Get("client_id") != "cid" || form.Get("client_secret") != "csecret"):
					problem = "want client_secret_post"
				case r.Header.Get("Accept") != "application/json": // GitHub answers form-encoded without it
					problem = "Accept: " + r.Header.Get("Accept")
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, tc.answer)
			}))
			defer srv.Close()
			cfg, err := Decode([]byte(one(fmt.Sprintf("provider = %q\n%s\ntoken_url = %q\nclient_id = \"cid\"\nclient_secret = \"csecret\"",
				tc.preset, tc.extra, srv.URL+"/token"))))
			if err != nil {
				t.Fatal(err)
			}
			if err := cfg.ResolveSecrets(); err != nil {
				t.Fatal(err)
			}
			c, err := grants.New(cfg.Credentials[0].GrantsConfig())
			if err != nil {
				t.Fatal(err)
			}
			tok, err := c.Renew(context.Background(), secret.New("rt-old"))
			if err != nil || problem != "" {
				t.Fatalf("renew: %v; fake: %s", err, problem)
			}
			if got := !tok.RefreshToken.IsZero(); got != tc.rotates {
				t.Errorf("new refresh token = %v, want %v", got, tc.rotates)
			}
			if life := tok.ExpiresAt.Sub(tok.IssuedAt); life != tc.life || tok.ExpirySource != tc.source {
				t.Errorf("lifetime %v from %q, want %v from %q", life, tok.ExpirySource, tc.life, tc.source)
			}
		})
	}
}
