package grants

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tokend/tokend/internal/secret"
)

// Class says whether retrying a failed token request can help.
type Class string

// The two error classes.
const (
	// ClassPermanent: the provider rejected the credential or the request;
	// retrying unchanged will fail the same way (an operator must act).
	ClassPermanent Class = "permanent"
	// ClassTransient: the failure may go away on its own; retry with backoff.
	ClassTransient Class = "transient"
)

// Codes tokend uses for failures that carry no OAuth error code.
const (
	CodeNetwork          = "network"            // no response, or the body could not be read
	CodeInvalidResponse  = "invalid_response"   // a 2xx that is not a usable token response
	CodeResponseTooLarge = "response_too_large" // body over 1 MiB
	CodeHTTPStatus       = "http_status"        // error status without a parseable OAuth code
	CodeInvalidConfig    = "invalid_config"     // the request could not be built from the config
)

// Description and Code limits. A description keeps its informative part:
// Hydra's invalid_grant explains "The refresh token was already used" after
// some 250 characters of boilerplate (issue 12 item 4), so the cap is 1000,
// still one log line.
const (
	maxDescription = 1000
	maxCode        = 64
)

// Error is the typed token-endpoint failure. Its text never contains a token,
// a secret or the response body: Description is the provider's
// error_description (or Basiq detail/title) reduced to printable ASCII, with
// every value tokend sent redacted, cut to 1000 characters.
type Error struct {
	Credential string
	// Endpoint is "introspection" for Introspect failures; "" means the
	// token endpoint.
	Endpoint string
	// Status is the HTTP status; 0 when no response arrived.
	Status int
	// Code is the OAuth error code (lower case, "-" normalised to "_", so
	// Basiq's "invalid-grant" is "invalid_grant"), or one of tokend's own:
	// CodeNetwork, CodeInvalidResponse, CodeResponseTooLarge, CodeHTTPStatus,
	// CodeInvalidConfig, "no_refresh_token", "no_authorization_code".
	Code        string
	Description string
	Class       Class
	// RetryAfter is the server's Retry-After (seconds or HTTP date) when
	// present, else 0.
	RetryAfter time.Duration
	// Err is the underlying cause (network error, context error), for Unwrap.
	Err error
}

// Error formats e as `credential "name": token endpoint: code (HTTP 400): description`.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Credential != "" {
		fmt.Fprintf(&b, "credential %q: ", e.Credential)
	}
	if e.Endpoint != "" {
		b.WriteString(e.Endpoint + " endpoint: ")
	} else {
		b.WriteString("token endpoint: ")
	}
	if e.Code != "" {
		b.WriteString(e.Code)
	} else {
		b.WriteString("error")
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.Description != "" {
		b.WriteString(": " + e.Description)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// OutcomeKnown reports whether the provider's answer was read: a status
// with its body. A success status whose body never arrived (a read error
// after a 2xx) is not an answer: the provider may have rotated the refresh
// token and the new one is not known (issue 16), like no status at all.
func (e *Error) OutcomeKnown() bool {
	return e.Status != 0 && !(e.Status >= 200 && e.Status < 300 && e.Code == CodeNetwork)
}

// Unwrap returns the underlying cause, so errors.Is(err, context.Canceled) works.
func (e *Error) Unwrap() error { return e.Err }

// ClassOf classifies err: an *Error anywhere in its chain gives its Class;
// anything else, including context errors, is transient. ClassOf(nil) is "".
func ClassOf(err error) Class {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Class != "" {
		return e.Class
	}
	return ClassTransient
}

// IsPermanent reports whether ClassOf(err) is ClassPermanent.
func IsPermanent(err error) bool { return ClassOf(err) == ClassPermanent }

// classify decides the class of a provider failure from its (normalised)
// OAuth code and HTTP status.
func classify(status int, code string) Class {
	switch status {
	case 408, 429, 503: // the server said "come back later", whatever the body says
		return ClassTransient
	}
	switch code {
	// RFC 6749 §5.2, plus Basiq's parameter-not-valid and access-denied,
	// GitHub's codes (answered with HTTP 200: bad_refresh_token for a spent
	// or expired refresh token, incorrect_client_credentials,
	// bad_verification_code) and RFC 8628 §3.5's expired_token.
	case "invalid_grant", "invalid_client", "unauthorized_client", "unsupported_grant_type",
		"invalid_scope", "invalid_request", "parameter_not_valid", "access_denied",
		"bad_refresh_token", "incorrect_client_credentials", "bad_verification_code", "expired_token":
		return ClassPermanent
	case "temporarily_unavailable", "server_error", "internal_server_error", "slow_down", "authorization_pending",
		CodeNetwork, CodeInvalidResponse, CodeResponseTooLarge:
		return ClassTransient
	}
	switch {
	case status == 0, status >= 500:
		return ClassTransient
	case status >= 200 && status < 300:
		// An unknown error code in a success status: nothing says the
		// credential is dead, so keep trying rather than give it up.
		return ClassTransient
	default: // 3xx (redirects are not followed) and 4xx
		return ClassPermanent
	}
}

// providerError builds the *Error for an answer that carried (or lacked) an
// OAuth error code.
func providerError(status int, rawCode, rawDesc string, sensitive []string) *Error {
	code := normaliseCode(clean(rawCode, maxCode, sensitive))
	if code == "" {
		code = CodeHTTPStatus
		if status >= 200 && status < 300 || status == 0 {
			code = CodeInvalidResponse
		}
	}
	return &Error{Status: status, Code: code, Description: clean(rawDesc, maxDescription, sensitive), Class: classify(status, code)}
}

// normaliseCode lower-cases a code and maps Basiq's hyphens to underscores.
func normaliseCode(c string) string {
	return strings.ReplaceAll(strings.ToLower(c), "-", "_")
}

// clean makes provider text safe for an error string: printable ASCII only,
// every sensitive value redacted, at most limit characters. Redaction runs
// before truncation so a cut can never leave part of a secret behind.
func clean(s string, limit int, sensitive []string) string {
	s = printable(s)
	vals := make([]string, 0, len(sensitive))
	for _, v := range sensitive {
		if v = printable(v); strings.TrimSpace(v) != "" {
			vals = append(vals, v)
		}
	}
	// Longest first, so a secret containing another is redacted whole.
	slices.SortFunc(vals, func(a, b string) int { return len(b) - len(a) })
	for _, v := range vals {
		s = strings.ReplaceAll(s, v, secret.Redacted)
	}
	s = strings.TrimSpace(s)
	if len(s) > limit {
		s = strings.TrimSpace(s[:limit])
	}
	return s
}

// printable maps whitespace controls to a space and every other rune outside
// printable ASCII to '?'.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 0x20 && r <= 0x7e:
			return r
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		default:
			return '?'
		}
	}, s)
}
