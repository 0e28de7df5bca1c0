package grants

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestEndpointErrorClassification(t *testing.T) {
	const html = "<!DOCTYPE html><html><body><h1>Bad Gateway</h1></body></html>"
	basiq := func(code, title, detail string) string {
		return fmt.Sprintf(`{"type":"list","correlationId":"ac2f7f0c","data":[{"type":"error","code":%q,"title":%q,"detail":%q}]}`, code, title, detail)
	}
	tests := []struct {
		name      string
		rep       reply
		status    int
		code      string
		class     Class
		desc      string
		retryAfer time.Duration
	}{
		{"400 invalid_grant", reply{Status: 400, Body: `{"error":"invalid_grant","error_description":"Token is expired"}`},
			400, "invalid_grant", ClassPermanent, "Token is expired", 0},
		{"401 invalid_client", reply{Status: 401, Body: `{"error":"invalid_client"}`},
			401, "invalid_client", ClassPermanent, "", 0},
		{"400 unauthorized_client", reply{Status: 400, Body: `{"error":"unauthorized_client"}`},
			400, "unauthorized_client", ClassPermanent, "", 0},
		{"400 unsupported_grant_type", reply{Status: 400, Body: `{"error":"unsupported_grant_type"}`},
			400, "unsupported_grant_type", ClassPermanent, "", 0},
		{"400 invalid_scope", reply{Status: 400, Body: `{"error":"invalid_scope"}`},
			400, "invalid_scope", ClassPermanent, "", 0},
		{"400 invalid_request form-encoded", reply{Status: 400, Type: "application/x-www-form-urlencoded", Body: "error=invalid_request&error_description=missing+code"},
			400, "invalid_request", ClassPermanent, "missing code", 0},
		{"200 with error", reply{Status: 200, Body: `{"error":"invalid_grant","error_description":"reused"}`},
			200, "invalid_grant", ClassPermanent, "reused", 0},
		{"200 with temporarily_unavailable", reply{Status: 200, Body: `{"error":"temporarily_unavailable"}`},
			200, "temporarily_unavailable", ClassTransient, "", 0},
		{"200 missing access_token", reply{Status: 200, Body: `{"token_type":"bearer","expires_in":3600}`},
			200, "invalid_response", ClassTransient, "token response has no access_token", 0},
		{"200 HTML", reply{Status: 200, Type: "text/html", Body: html},
			200, "invalid_response", ClassTransient, "token response is not JSON or form-encoded", 0},
		{"502 HTML", reply{Status: 502, Type: "text/html", Body: html},
			502, "http_status", ClassTransient, "", 0},
		{"500 server_error", reply{Status: 500, Body: `{"error":"server_error"}`},
			500, "server_error", ClassTransient, "", 0},
		{"400 temporarily_unavailable", reply{Status: 400, Body: `{"error":"temporarily_unavailable"}`},
			400, "temporarily_unavailable", ClassTransient, "", 0},
		{"503 Retry-After seconds", reply{Status: 503, Body: "", Header: map[string]string{"Retry-After": "120"}},
			503, "http_status", ClassTransient, "", 2 * time.Minute},
		{"503 Retry-After date", reply{Status: 503, Type: "text/plain", Body: "down",
			Header: map[string]string{"Retry-After": testNow.Add(90 * time.Second).Format(http.TimeFormat)}},
			503, "http_status", ClassTransient, "", 90 * time.Second},
		{"503 invalid_request is still transient", reply{Status: 503, Body: `{"error":"invalid_request"}`},
			503, "invalid_request", ClassTransient, "", 0},
		{"429 without Retry-After", reply{Status: 429, Body: ""},
			429, "http_status", ClassTransient, "", 0},
		{"429 with a permanent-looking code", reply{Status: 429, Body: `{"error":"invalid_request"}`, Header: map[string]string{"Retry-After": "7"}},
			429, "invalid_request", ClassTransient, "", 7 * time.Second},
		{"408", reply{Status: 408}, 408, "http_status", ClassTransient, "", 0},
		{"400 no code", reply{Status: 400, Type: "text/plain", Body: "bad request"},
			400, "http_status", ClassPermanent, "", 0},
		{"401 empty", reply{Status: 401}, 401, "http_status", ClassPermanent, "", 0},
		{"403 empty", reply{Status: 403}, 403, "http_status", ClassPermanent, "", 0},
		{"404 empty", reply{Status: 404}, 404, "http_status", ClassPermanent, "", 0},
		{"418 other 4xx", reply{Status: 418}, 418, "http_status", ClassPermanent, "", 0},
		{"400 error object", reply{Status: 400, Body: `{"error":{"message":"nope"}}`},
			400, "http_status", ClassPermanent, "", 0},
		{"Basiq 403 access-denied", reply{Status: 403, Body: basiq("access-denied", "Forbidden", "Partner account is disabled.")},
			403, "access_denied", ClassPermanent, "Partner account is disabled.", 0},
		{"Basiq 404 parameter-not-valid", reply{Status: 404, Body: basiq("parameter-not-valid", "Resource not found", "")},
			404, "parameter_not_valid", ClassPermanent, "Resource not found", 0},
		{"Basiq 400 invalid-grant", reply{Status: 400, Body: basiq("invalid-grant", "Invalid grant", "API key revoked")},
			400, "invalid_grant", ClassPermanent, "API key revoked", 0},
		{"Basiq 500 internal-server-error", reply{Status: 500, Body: basiq("internal-server-error", "Internal Server Error", "Unexpected.")},
			500, "internal_server_error", ClassTransient, "Unexpected.", 0},
		{"Basiq unknown code, 400", reply{Status: 400, Body: basiq("something-new", "New", "")},
			400, "something_new", ClassPermanent, "New", 0},
		{"Basiq unknown code, 502", reply{Status: 502, Body: basiq("something-new", "New", "")},
			502, "something_new", ClassTransient, "New", 0},
		{"302 redirect not followed", reply{Status: 302, Header: map[string]string{"Location": "http://127.0.0.1:1/elsewhere"}},
			302, "http_status", ClassPermanent, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := newEndpoint(t, tt.rep)
			_, err := newTestClient(t, ep.URL, nil).ClientCredentials(context.Background())
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v (%T), want *Error", err, err)
			}
			if e.Credential != "test-cred" || e.Status != tt.status || e.Code != tt.code || e.Class != tt.class ||
				e.Description != tt.desc || e.RetryAfter != tt.retryAfer {
				t.Errorf("got %+v\nwant status=%d code=%s class=%s desc=%q retry=%v", *e, tt.status, tt.code, tt.class, tt.desc, tt.retryAfer)
			}
			if ClassOf(err) != tt.class || IsPermanent(err) != (tt.class == ClassPermanent) {
				t.Errorf("ClassOf = %s", ClassOf(err))
			}
			if ep.count() != 1 {
				t.Errorf("%d requests, want 1 (no retries, no redirects)", ep.count())
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	ep := newEndpoint(t, reply{Status: 400, Body: `{"error":"invalid_grant","error_description":"Token is expired"}`})
	c := newTestClient(t, ep.URL, func(cfg *Config) { cfg.Name = "apicbase-prod"; cfg.Grant = GrantRefreshToken })
	_, err := c.Renew(context.Background(), newRT())
	if got, want := err.Error(), `credential "apicbase-prod": token endpoint: invalid_grant (HTTP 400): Token is expired`; got != want {
		t.Errorf("Error() = %q\nwant      %q", got, want)
	}
	cause := errors.New("dial tcp: connection refused")
	e := &Error{Code: CodeNetwork, Class: ClassTransient, Err: cause}
	if got := e.Error(); got != "token endpoint: network: dial tcp: connection refused" {
		t.Errorf("Error() = %q", got)
	}
	if !errors.Is(e, cause) || !errors.Is(fmt.Errorf("refreshing: %w", e), cause) {
		t.Error("Unwrap does not reach the cause")
	}
}

func TestDescriptionSanitised(t *testing.T) {
	long := strings.Repeat("x", 2*maxDescription)
	ep := newEndpoint(t, reply{Status: 400, Body: `{"error":"Invalid-Grant\u0007","error_description":"line1\nline2\t\u00e9\u0000` + long + `"}`})
	_, err := newTestClient(t, ep.URL, nil).ClientCredentials(context.Background())
	var e *Error
	if !errors.As(err, &e) {
		t.Fatal(err)
	}
	if e.Code != "invalid_grant?" || e.Class != ClassPermanent {
		t.Errorf("code = %q class %s", e.Code, e.Class)
	}
	if !strings.HasPrefix(e.Description, "line1 line2 ??") || len(e.Description) != maxDescription {
		t.Errorf("description = %q (len %d)", e.Description, len(e.Description))
	}
	for _, r := range e.Error() {
		if r < 0x20 || r > 0x7e {
			t.Fatalf("error string has %q", r)
		}
	}
}

func TestClassOf(t *testing.T) {
	perm := &Error{Code: "invalid_grant", Class: ClassPermanent}
	tests := []struct {
		err  error
		want Class
	}{
		{nil, ""},
		{perm, ClassPermanent},
		{fmt.Errorf("refreshing %q: %w", "x", perm), ClassPermanent},
		{&Error{Code: "network", Class: ClassTransient}, ClassTransient},
		{&Error{Code: "odd"}, ClassTransient},
		{context.Canceled, ClassTransient},
		{context.DeadlineExceeded, ClassTransient},
		{errors.New("plain"), ClassTransient},
	}
	for _, tt := range tests {
		if got := ClassOf(tt.err); got != tt.want {
			t.Errorf("ClassOf(%v) = %q, want %q", tt.err, got, tt.want)
		}
		if IsPermanent(tt.err) != (tt.want == ClassPermanent) {
			t.Errorf("IsPermanent(%v) wrong", tt.err)
		}
	}
}
