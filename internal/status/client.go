package status

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/state"
)

// ErrUnreachable is wrapped by every Client error that means no answer came
// from the daemon (not running, wrong address, socket missing).
var ErrUnreachable = errors.New("tokend is not reachable")

// ErrRefreshFailed is wrapped by AwaitRefresh when the refresh ended in an
// error; ErrRefreshPending when the wait ended first.
var (
	ErrRefreshFailed  = errors.New("refresh failed")
	ErrRefreshPending = errors.New("refresh requested but not finished")
)

// awaitPoll is how often AwaitRefresh asks the daemon.
const awaitPoll = 200 * time.Millisecond

// APIError is an error answer from the daemon.
type APIError struct {
	Status  int    // HTTP status
	Message string // the server's "error" field
}

// Error formats e as "HTTP 404: unknown credential \"x\"".
func (e *APIError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message) }

// IsNotFound reports whether err is the daemon saying the credential is unknown.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// Client talks to a running daemon's status server over TCP or a unix
// socket. It is safe for concurrent use.
type Client struct {
	base      string
	hc        *http.Client
	tokenFile string
	poll      time.Duration // AwaitRefresh's interval (tests shorten it)
}

// NewClient returns a client for the daemon listening on listen (the
// config's status.listen; an unspecified host such as 0.0.0.0 is reached
// through loopback). adminTokenFile is read only when an admin call is made,
// so read-only calls work without access to it.
func NewClient(listen, adminTokenFile string) (*Client, error) {
	if err := config.ValidateListen(listen); err != nil {
		return nil, fmt.Errorf("status listen address: %w", err)
	}
	tr := &http.Transport{DisableCompression: true, MaxIdleConns: 2, IdleConnTimeout: 30 * time.Second}
	base := ""
	if path, ok := strings.CutPrefix(listen, config.UnixPrefix); ok {
		d := net.Dialer{}
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) { return d.DialContext(ctx, "unix", path) }
		base = "http://tokend"
	} else {
		host, port, _ := net.SplitHostPort(listen)
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			host = "127.0.0.1"
			if ip.To4() == nil {
				host = "::1"
			}
		}
		base = "http://" + net.JoinHostPort(host, port)
	}
	return &Client{base: base, hc: &http.Client{Transport: tr, Timeout: 60 * time.Second}, tokenFile: adminTokenFile, poll: awaitPoll}, nil
}

// Credentials returns every credential's status, in config order.
func (c *Client) Credentials(ctx context.Context) ([]scheduler.CredentialStatus, error) {
	var out []scheduler.CredentialStatus
	return out, c.do(ctx, http.MethodGet, "/v1/credentials", false, nil, &out)
}

// Credential returns one credential's status; IsNotFound(err) when the
// daemon has no such credential.
func (c *Client) Credential(ctx context.Context, name string) (scheduler.CredentialStatus, error) {
	var out scheduler.CredentialStatus
	return out, c.do(ctx, http.MethodGet, "/v1/credentials/"+url.PathEscape(name), false, nil, &out)
}

// Ready returns the daemon's readiness report (the /readyz answer, whether
// ready or not).
func (c *Client) Ready(ctx context.Context) (ReadyReport, error) {
	var out ReadyReport
	err := c.do(ctx, http.MethodGet, "/readyz", false, nil, &out)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusServiceUnavailable {
		err = nil
	}
	return out, err
}

// Refresh asks the daemon to refresh the named credential now (admin). It
// returns once the request is queued, not when the refresh is done.
func (c *Client) Refresh(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodPost, "/v1/credentials/"+url.PathEscape(name)+"/refresh", true, nil, nil)
}

// AwaitRefresh waits, up to wait and asking the daemon every 200ms, for the
// outcome of a refresh of before.Name requested (Refresh) at requested;
// before is the credential's status from before the request. It returns the
// status it saw last and:
//   - nil when the generation moved past before's with status ok;
//   - an error wrapping ErrRefreshFailed when an error was recorded since the
//     request (a second of clock skew allowed) and no refresh is in flight:
//     the status says which (needs_reauth, backoff, ...);
//   - an error wrapping ErrRefreshPending when wait passed first;
//   - the client's error when the daemon could not be asked or ctx ended.
func (c *Client) AwaitRefresh(ctx context.Context, before scheduler.CredentialStatus, requested time.Time, wait time.Duration) (scheduler.CredentialStatus, error) {
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(c.poll)
	defer tick.Stop()
	st := before
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("waiting for the refresh of %q: %w", before.Name, ctx.Err())
		case <-tick.C:
		}
		var err error
		if st, err = c.Credential(ctx, before.Name); err != nil {
			return st, err
		}
		switch {
		case st.Generation > before.Generation && st.Status == state.StatusOK:
			return st, nil
		case st.LastError != nil && !st.LastError.At.Before(requested.Add(-time.Second)) && st.Status != state.StatusRefreshing:
			return st, fmt.Errorf("credential %q: %w (%s)", st.Name, ErrRefreshFailed, st.Status)
		}
	}
	return st, fmt.Errorf("credential %q: %w after %s", before.Name, ErrRefreshPending, wait)
}

// Reload asks the daemon to re-read its config (admin). An invalid config is
// an *APIError listing every problem; the daemon keeps running the old one.
func (c *Client) Reload(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/reload", true, nil, nil)
}

// Import hands an out-of-band token to the daemon (admin), which stores it
// durably, writes the sinks and plans the next refresh (scheduler.Import).
// Use it when the state store is locked by a running daemon. A 409 APIError
// means a refresh of that credential is in flight: try again.
func (c *Client) Import(ctx context.Context, name string, tok ImportRequest) error {
	body, err := json.Marshal(tok.wire())
	if err != nil {
		return fmt.Errorf("encoding import request: %w", err)
	}
	return c.do(ctx, http.MethodPost, "/v1/credentials/"+url.PathEscape(name)+"/import", true, body, nil)
}

// do sends one request and decodes a 2xx JSON answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, admin bool, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if admin {
		tok, err := c.adminToken()
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok.Reveal())
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL adds nothing for a local daemon
		}
		return fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("%w: reading the answer: %v", ErrUnreachable, err)
	}
	if resp.StatusCode/100 != 2 {
		var eb errorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error == "" {
			eb.Error = http.StatusText(resp.StatusCode)
		}
		return &APIError{Status: resp.StatusCode, Message: eb.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decoding the answer to %s %s: %w", method, path, err)
	}
	return nil
}

func (c *Client) adminToken() (secret.Secret, error) {
	if c.tokenFile == "" {
		return secret.Secret{}, errors.New("no admin token file")
	}
	return ReadAdminToken(c.tokenFile)
}
