package grants

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// CodeCredentialFile is the code of the transient *Error returned when a
// credential file read at request time (client_assertion_file) is missing,
// unreadable or empty: kubelet may not have written the projected token yet.
const CodeCredentialFile = "credential_file"

// maxAssertionFile caps client_assertion_file: a projected token is ~1 KiB.
const maxAssertionFile = 64 << 10

// ClientAssertionOptions are client_assertion's keys: a JWT minted by
// someone else (a Kubernetes projected service-account token for workload
// identity federation with Entra, GCP or AWS), sent as the client
// assertion (RFC 7521 §4.2, RFC 7523 §2.2).
type ClientAssertionOptions struct {
	// ClientAssertionFile holds the assertion (`client_assertion_file`). It
	// is read on every request, never cached: the file's writer replaces it
	// before the old one expires. Its mode is not checked: kubelet manages it.
	ClientAssertionFile string `toml:"client_assertion_file"`
}

// Defaults implements Options: nothing to fill.
func (*ClientAssertionOptions) Defaults() {}

// Validate implements Options: the file is required (it is read per request).
func (o *ClientAssertionOptions) Validate(bad func(field, format string, args ...any)) {
	if o.ClientAssertionFile == "" {
		bad("client_assertion_file", "is required with auth_style \"client_assertion\"")
	}
}

// applyClientAssertion reads the assertion file now and sends its content
// with client_id. A missing, unreadable or empty file is a transient
// *Error naming the file, never its content.
func applyClientAssertion(cfg *Config, v url.Values, _ http.Header) *Error {
	o, _ := cfg.AuthOptions.(*ClientAssertionOptions)
	if o == nil || o.ClientAssertionFile == "" {
		return &Error{Code: CodeInvalidConfig, Class: ClassPermanent,
			Description: "auth style client_assertion needs client_assertion_file"}
	}
	a, err := readAssertion(o.ClientAssertionFile)
	if err != nil {
		return &Error{Code: CodeCredentialFile, Class: ClassTransient,
			Description: "client_assertion_file " + o.ClientAssertionFile + ": " + err.Error()}
	}
	if cfg.ClientID != "" {
		v.Set("client_id", cfg.ClientID)
	}
	v.Set("client_assertion_type", ClientAssertionType)
	v.Set("client_assertion", a)
	return nil
}

// readAssertion reads the file and trims surrounding white space. Errors
// say what is wrong (missing, unreadable, empty, too large, not one line),
// never what the file holds.
func readAssertion(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return "", errors.New("does not exist")
		case errors.Is(err, fs.ErrPermission):
			return "", errors.New("permission denied")
		}
		return "", errors.New("cannot be opened")
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxAssertionFile+1))
	if err != nil {
		return "", errors.New("cannot be read")
	}
	if len(b) > maxAssertionFile {
		return "", fmt.Errorf("is larger than %d KiB", maxAssertionFile>>10)
	}
	s := strings.TrimSpace(string(b))
	switch {
	case s == "":
		return "", errors.New("is empty")
	case strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return "", errors.New("holds more than one token (white space or control characters inside)")
	}
	return s, nil
}
