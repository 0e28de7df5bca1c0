package grants

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newTestClient(t, "http://"+addr, func(cfg *Config) { cfg.TokenURL += "?api_key=QUERY-KEY-VALUE" })
	_, err = c.ClientCredentials(context.Background())
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeNetwork || e.Status != 0 || e.Class != ClassTransient || e.Err == nil {
		t.Fatalf("err = %#v", err)
	}
	if !strings.HasPrefix(err.Error(), `credential "test-cred": token endpoint: network: `) ||
		!strings.Contains(err.Error(), addr+"/oauth/token?redacted") || strings.Contains(err.Error(), "QUERY-KEY-VALUE") {
		t.Errorf("Error() = %q", err)
	}
}

// blockingEndpoint holds every request until the client goes away (or the
// test ends), and reports when one has arrived.
func blockingEndpoint(t *testing.T) (*httptest.Server, <-chan struct{}) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the body to EOF lets the server notice the client leaving.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case arrived <- struct{}{}:
		default:
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	return srv, arrived
}

func TestContextCancelled(t *testing.T) {
	srv, arrived := blockingEndpoint(t)
	c := newTestClient(t, srv.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-arrived; cancel() }()
	_, err := c.ClientCredentials(ctx)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeNetwork || e.Status != 0 || ClassOf(err) != ClassTransient {
		t.Fatalf("err = %v", err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v does not wrap context.Canceled", err)
	}
}

func TestContextDeadline(t *testing.T) {
	srv, _ := blockingEndpoint(t)
	c := newTestClient(t, srv.URL, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	_, err := c.ClientCredentials(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || ClassOf(err) != ClassTransient {
		t.Fatalf("err = %v", err)
	}
}

func TestAlreadyCancelledContextSendsNothing(t *testing.T) {
	ep := newEndpoint(t, reply{Body: okBody})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := newTestClient(t, ep.URL, nil).ClientCredentials(ctx)
	if !errors.Is(err, context.Canceled) || ep.count() != 0 {
		t.Fatalf("err = %v, requests = %d", err, ep.count())
	}
}

func TestTruncatedBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "500")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, `{"access_token":"at-partial`)
		// The handler returns with the body short: the server closes the connection.
	}))
	t.Cleanup(srv.Close)
	_, err := newTestClient(t, srv.URL, nil).ClientCredentials(context.Background())
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeNetwork || e.Status != 200 || e.Class != ClassTransient {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "at-partial") {
		t.Errorf("error leaks the partial body: %v", err)
	}
}

func TestResponseSizeCap(t *testing.T) {
	prefix := `{"access_token":"at-big","expires_in":60}`
	tests := []struct {
		name   string
		status int
		size   int
		ok     bool
	}{
		{"exactly 1 MiB", 200, maxBodySize, true},
		{"1 MiB + 1", 200, maxBodySize + 1, false},
		{"error body over 1 MiB", 400, 3 * maxBodySize, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := prefix + strings.Repeat(" ", tt.size-len(prefix)) // trailing JSON whitespace
			ep := newEndpoint(t, reply{Status: tt.status, Body: body})
			tok, err := newTestClient(t, ep.URL, nil).ClientCredentials(context.Background())
			if tt.ok {
				if err != nil || tok.AccessToken.Reveal() != "at-big" {
					t.Fatalf("err = %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeResponseTooLarge || e.Class != ClassTransient || e.Status != tt.status {
				t.Fatalf("err = %v", err)
			}
		})
	}
	if _, err := ParseTokenResponse([]byte(prefix+strings.Repeat(" ", maxBodySize)), "application/json", testNow, 0); ClassOf(err) != ClassTransient ||
		!strings.Contains(err.Error(), CodeResponseTooLarge) {
		t.Errorf("ParseTokenResponse over cap: %v", err)
	}
}
