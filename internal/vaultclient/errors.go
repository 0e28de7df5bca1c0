package vaultclient

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hashicorp/vault/api"
)

// Error is a Vault HTTP error reduced to what is safe to log: the status and
// Vault's own short error messages (never a raw, non-JSON body).
type Error struct {
	Status   int
	Messages []string
	err      *api.ResponseError
}

func (e *Error) Error() string {
	msg := http.StatusText(e.Status)
	if len(e.Messages) > 0 {
		msg = strings.Join(e.Messages, "; ")
	}
	switch {
	case e.Sealed():
		return "vault is sealed (HTTP 503)"
	case e.Status == http.StatusForbidden:
		return "permission denied by vault policy (HTTP 403)"
	}
	return fmt.Sprintf("vault answered HTTP %d: %s", e.Status, msg)
}

// Unwrap gives the api's ResponseError to errors.As.
func (e *Error) Unwrap() error { return e.err }

// Sealed reports whether Vault answered that it is sealed.
func (e *Error) Sealed() bool {
	if e.Status != http.StatusServiceUnavailable {
		return false
	}
	for _, m := range e.Messages {
		if strings.Contains(strings.ToLower(m), "sealed") {
			return true
		}
	}
	return false
}

// CASMismatch reports whether a KV v2 write failed its check-and-set.
func (e *Error) CASMismatch() bool {
	if e.Status != http.StatusBadRequest {
		return false
	}
	for _, m := range e.Messages {
		if strings.Contains(m, "check-and-set") {
			return true
		}
	}
	return false
}

// Describe turns a vault/api error into an *Error (or leaves other errors,
// such as network errors, as they are). Use it before putting a Vault error
// in a log line or a returned error.
func Describe(err error) error {
	var re *api.ResponseError
	if err == nil || !errors.As(err, &re) {
		return err
	}
	e := &Error{Status: re.StatusCode, err: re}
	if !re.RawError {
		for _, m := range re.Errors {
			m = strings.TrimSpace(strings.ReplaceAll(m, "\n", " "))
			if len(m) > 200 {
				m = m[:200] + "…"
			}
			if m != "" {
				e.Messages = append(e.Messages, m)
			}
		}
	}
	return e
}

// IsCASMismatch reports whether err is a failed KV v2 check-and-set.
func IsCASMismatch(err error) bool {
	var e *Error
	if errors.As(Describe(err), &e) {
		return e.CASMismatch()
	}
	return false
}
