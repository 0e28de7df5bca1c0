package grants

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/tokend/tokend/internal/secret"
)

// GrantDeviceCode is RFC 8628 §3.4's grant type. It is bootstrap-only
// (`tokend authorize --device`), like authorization_code: the tokens it
// yields are renewed with their refresh token.
const GrantDeviceCode Grant = "urn:ietf:params:oauth:grant-type:device_code"

// DefaultDeviceInterval is the polling interval when the device
// authorization response names none (RFC 8628 §3.2).
const DefaultDeviceInterval = 5 * time.Second

// DeviceAuthorization is a device authorization response (RFC 8628 §3.2).
type DeviceAuthorization struct {
	// DeviceCode is presented when polling; it is a secret (with it, anyone
	// could collect the tokens once the user approves).
	DeviceCode secret.Secret
	// UserCode is what the user types at VerificationURI; shown to them.
	UserCode string
	// VerificationURI is where the user goes; Google's verification_url is
	// accepted for it.
	VerificationURI string
	// VerificationURIComplete carries the user code too; "" when not sent.
	VerificationURIComplete string
	// ExpiresAt is when the device code dies (from expires_in).
	ExpiresAt time.Time
	// Interval is the polling interval: as sent, else DefaultDeviceInterval.
	Interval time.Duration
}

// RequestDeviceCode asks the device authorization endpoint at deviceURL for
// a device code (RFC 8628 §3.1): a form POST with client_id and the
// configured scopes, the client authenticated as at the token endpoint.
// deviceURL must pass the token_url rules. Errors are *Error like the token
// endpoint's; the answer must carry device_code, user_code, a verification
// URI and expires_in, else Code is CodeInvalidResponse.
func (c *Client) RequestDeviceCode(ctx context.Context, deviceURL string) (DeviceAuthorization, error) {
	u, errs := validateURL("device_authorization_url", deviceURL, c.cfg.AllowInsecureHTTP)
	if len(errs) > 0 {
		return DeviceAuthorization{}, c.fail(&Error{Code: CodeInvalidConfig, Class: ClassPermanent, Description: errs[0].Error()})
	}
	v := url.Values{}
	if len(c.cfg.Scopes) > 0 {
		v.Set("scope", strings.Join(c.cfg.Scopes, " "))
	}
	// The client authenticates as at the token endpoint (§3.1); a public
	// client's method sends client_id.
	auth, err := c.clientAuth(v)
	if err != nil {
		return DeviceAuthorization{}, err
	}
	for k, p := range c.cfg.Params { // e.g. Auth0's audience
		if _, taken := v[k]; !taken {
			v.Set(k, p)
		}
	}
	req, err := c.post(ctx, u.String(), v, BodyForm, auth) // §3.1: always form-encoded
	if err != nil {
		return DeviceAuthorization{}, err
	}
	sent := c.now()
	sensitive := []string{c.cfg.ClientSecret.Reveal()}
	resp, body, e := c.send(req)
	if e == nil {
		if resp.StatusCode < 200 || resp.StatusCode >= 300 {
			e = parseFailure(body, resp.Header.Get("Content-Type"), resp.StatusCode, sensitive)
		} else {
			da, ok := parseDeviceAuthorization(body, sent)
			if ok {
				return da, nil
			}
			f, _ := decode(body, resp.Header.Get("Content-Type"))
			if f.hasError {
				e = providerError(resp.StatusCode, f.code, f.description, sensitive)
			} else {
				e = invalidResponse(resp.StatusCode, "device authorization response lacks device_code, user_code, verification_uri or expires_in")
			}
		}
	}
	c.retryAfter(e, resp)
	e.Endpoint = "device authorization"
	return DeviceAuthorization{}, c.fail(e)
}

// PollDeviceToken makes one token request for deviceCode (RFC 8628 §3.4).
// While the user has not decided, the *Error's Code is
// "authorization_pending" or "slow_down" (the caller adds 5 s to its
// interval); "expired_token" and "access_denied" end the flow (§3.5).
func (c *Client) PollDeviceToken(ctx context.Context, deviceCode secret.Secret) (Token, error) {
	if deviceCode.IsZero() {
		return Token{}, c.fail(&Error{Code: CodeInvalidConfig, Class: ClassPermanent, Description: "no device code to poll with"})
	}
	// The auth method adds client_id for a public client (§3.4).
	v := url.Values{"grant_type": {string(GrantDeviceCode)}, "device_code": {deviceCode.Reveal()}}
	return c.do(ctx, v, deviceCode.Reveal())
}

// parseDeviceAuthorization reads a §3.2 answer received at now.
func parseDeviceAuthorization(body []byte, now time.Time) (DeviceAuthorization, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(bytes.TrimSpace(body), &m) != nil || m == nil {
		return DeviceAuthorization{}, false
	}
	da := DeviceAuthorization{
		DeviceCode:              secret.New(jsonString(m["device_code"])),
		UserCode:                jsonString(m["user_code"]),
		VerificationURI:         jsonString(m["verification_uri"]),
		VerificationURIComplete: jsonString(m["verification_uri_complete"]),
		Interval:                DefaultDeviceInterval,
	}
	if da.VerificationURI == "" {
		da.VerificationURI = jsonString(m["verification_url"]) // Google's spelling
	}
	life, ok := jsonSeconds(m["expires_in"])
	if !ok || da.DeviceCode.IsZero() || da.UserCode == "" || da.VerificationURI == "" ||
		!isVSChars(da.UserCode) || !isVSChars(da.VerificationURI) || !isVSChars(da.VerificationURIComplete) || !isVSChars(da.DeviceCode.Reveal()) {
		return DeviceAuthorization{}, false
	}
	da.ExpiresAt = now.Add(life)
	if iv, ok := jsonSeconds(m["interval"]); ok {
		da.Interval = iv
	}
	return da, true
}
