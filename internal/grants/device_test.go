package grants

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"
)

// TestRequestDeviceCode: RFC 8628 §3.1-3.2 on the wire, Google's
// verification_url spelling, the default interval, and refusals.
func TestRequestDeviceCode(t *testing.T) {
	tests := []struct {
		name     string
		rep      reply
		uri      string
		interval time.Duration
		code     string // "" = success
	}{
		{"RFC 8628 example", reply{Body: `{"device_code":"GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS","user_code":"WDJB-MJHT","verification_uri":"https://example.com/device",` +
			`"verification_uri_complete":"https://example.com/device?user_code=WDJB-MJHT","expires_in":1800,"interval":5}`}, "https://example.com/device", 5 * time.Second, ""},
		{"Google: verification_url, no interval", reply{Body: `{"device_code":"4/4-GMMhmHCXhWEzkobqIHGG_EnNYYsAkukHspeYUk9E8","user_code":"GQVQ-JKEC","verification_url":"https://www.google.com/device","expires_in":1800}`},
			"https://www.google.com/device", DefaultDeviceInterval, ""},
		{"slow interval kept", reply{Body: `{"device_code":"d","user_code":"u","verification_uri":"https://x.example/d","expires_in":600,"interval":"12"}`}, "https://x.example/d", 12 * time.Second, ""},
		{"no device_code", reply{Body: `{"user_code":"u","verification_uri":"https://x.example/d","expires_in":600}`}, "", 0, CodeInvalidResponse},
		{"refused", reply{Status: 400, Body: `{"error":"invalid_scope"}`}, "", 0, "invalid_scope"},
		{"200 with error", reply{Body: `{"error":"unauthorized_client"}`}, "", 0, "unauthorized_client"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ep := newEndpoint(t, tc.rep)
			c := newTestClient(t, ep.URL, func(c *Config) { c.AuthStyle = AuthPost; c.Scopes = []string{"read", "write"} })
			da, err := c.RequestDeviceCode(context.Background(), ep.URL+"/device")
			if tc.code != "" {
				var e *Error
				if !errors.As(err, &e) || e.Code != tc.code || e.Endpoint != "device authorization" {
					t.Fatalf("err = %v, want code %s", err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if da.VerificationURI != tc.uri || da.Interval != tc.interval || da.UserCode == "" || da.DeviceCode.IsZero() || !da.ExpiresAt.After(testNow) {
				t.Fatalf("got %+v", da)
			}
			req := ep.only(t)
			form, _ := url.ParseQuery(req.Body)
			if req.Path != "/device" || form.Get("client_id") != "client-id" || form.Get("client_secret") != "client-secret-value" || form.Get("scope") != "read write" ||
				req.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
				t.Fatalf("request %s %v %v", req.Path, form, req.Header)
			}
		})
	}
}

// TestPollDeviceToken: the device_code grant on the wire; the pending codes
// are not permanent, expired_token and access_denied are.
func TestPollDeviceToken(t *testing.T) {
	ep := newEndpoint(t, reply{Body: okBody})
	c := newTestClient(t, ep.URL, func(c *Config) { c.AuthStyle = AuthNone })
	if _, err := c.PollDeviceToken(context.Background(), newRT()); err != nil {
		t.Fatal(err)
	}
	form, _ := url.ParseQuery(ep.only(t).Body)
	if form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:device_code" || form.Get("device_code") != "rt-current-value" || form.Get("client_id") != "client-id" {
		t.Fatalf("poll body %v", form)
	}
	for code, class := range map[string]Class{"authorization_pending": ClassTransient, "slow_down": ClassTransient,
		"expired_token": ClassPermanent, "access_denied": ClassPermanent} {
		ep := newEndpoint(t, reply{Status: 400, Body: `{"error":"` + code + `"}`})
		_, err := newTestClient(t, ep.URL, nil).PollDeviceToken(context.Background(), newRT())
		if ClassOf(err) != class {
			t.Errorf("%s: class %s, want %s", code, ClassOf(err), class)
		}
	}
}
