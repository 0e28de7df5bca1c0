package faulttest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/grants"
)

// window is how long each case watches the scheduler after forcing a refresh.
const window = 1500 * time.Millisecond

// reply writes a JSON answer.
func reply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = fmt.Fprint(w, body)
}

// rotated is a good answer with the given extra JSON members.
func rotated(extra string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		reply(w, 200, `{"access_token":"`+newAT+`","token_type":"Bearer","refresh_token":"`+newRT+`"`+extra+`}`)
	}
}

type faultCase struct {
	name    string
	handler http.HandlerFunc
	// setup, when set, returns the token URL and HTTP client instead of a
	// plain httptest server running handler.
	setup func(t *testing.T) (string, *http.Client)
	ok    bool   // the answer is usable: the new token is committed and delivered
	class string // the error_class logged when !ok
	max   int    // attempts allowed in the window
}

// TestProviderFaultMatrix drives the real scheduler, grants client, bbolt
// store and file sink against each kind of broken token endpoint.
func TestProviderFaultMatrix(t *testing.T) {
	short := &http.Client{Timeout: 300 * time.Millisecond}
	cases := []faultCase{
		{name: "connection refused", class: "transient", max: 10, setup: func(t *testing.T) (string, *http.Client) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			_ = ln.Close()
			return "http://" + addr + "/token", nil
		}},
		{name: "TLS untrusted certificate (default client)", class: "transient", max: 10, setup: func(t *testing.T) (string, *http.Client) {
			srv := httptest.NewUnstartedServer(rotated(`,"expires_in":3600`))
			srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake failures are the point
			srv.StartTLS()
			t.Cleanup(srv.Close)
			return srv.URL + "/token", nil // nil: the grants default client, verification on
		}},
		{name: "timeout", class: "transient", max: 6, handler: func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}},
		{name: "slow-drip body", class: "transient", max: 6, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(200)
			for _, c := range `{"access_token":"` + newAT + `"}` {
				_, _ = fmt.Fprintf(w, "%c", c)
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		}},
		{name: "503", class: "transient", max: 10, handler: func(w http.ResponseWriter, _ *http.Request) {
			reply(w, 503, `{"error":"temporarily_unavailable"}`)
		}},
		{name: "500 plain text", class: "transient", max: 10, handler: func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "boom", 500)
		}},
		{name: "429 without Retry-After", class: "transient", max: 10, handler: func(w http.ResponseWriter, _ *http.Request) {
			reply(w, 429, `{"error":"slow_down"}`)
		}},
		{name: "429 Retry-After seconds", class: "transient", max: 1, handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "5")
			reply(w, 429, `{}`)
		}},
		{name: "429 Retry-After HTTP date", class: "transient", max: 1, handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", time.Now().Add(6*time.Second).UTC().Format(http.TimeFormat))
			reply(w, 429, `{}`)
		}},
		{name: "HTML error page", class: "transient", max: 10, handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(502)
			_, _ = fmt.Fprint(w, "<html><body><h1>502 Bad Gateway</h1></body></html>")
		}},
		{name: "10 MiB body", class: "transient", max: 10, handler: func(w http.ResponseWriter, _ *http.Request) {
			reply(w, 200, `{"access_token":"`+newAT+`","padding":"`+strings.Repeat("x", 10<<20)+`"}`)
		}},
		{name: "200 with error", class: "permanent", max: 1, handler: func(w http.ResponseWriter, _ *http.Request) {
			reply(w, 200, `{"error":"invalid_grant","access_token":"`+newAT+`"}`)
		}},
		{name: "missing access_token", class: "transient", max: 10, handler: func(w http.ResponseWriter, _ *http.Request) {
			reply(w, 200, `{"token_type":"Bearer","refresh_token":"`+newRT+`","expires_in":3600}`)
		}},
		// Usable answers with odd members: committed once, no refresh loop.
		{name: "expires_in negative", ok: true, max: 1, handler: rotated(`,"expires_in":-5`)},
		{name: "expires_in zero", ok: true, max: 1, handler: rotated(`,"expires_in":0`)},
		{name: "expires_in huge", ok: true, max: 1, handler: rotated(`,"expires_in":1e300`)},
		{name: "expires_in string", ok: true, max: 1, handler: rotated(`,"expires_in":"soon"`)},
		{name: "token_type mac", ok: true, max: 1, handler: func(w http.ResponseWriter, _ *http.Request) {
			reply(w, 200, `{"access_token":"`+newAT+`","token_type":"mac","refresh_token":"`+newRT+`","expires_in":3600}`)
		}},
		{name: "unknown JSON member", ok: true, max: 1, handler: rotated(`,"expires_in":3600,"x_vendor":{"a":[1,2]}`)},
	}
	// Start every case, force its refresh, watch one shared window, then
	// judge each case (running them side by side keeps the test ~2 s).
	type running struct {
		r      *rig
		served *atomic.Int64
	}
	runs := make([]running, len(cases))
	for i, tc := range cases {
		served := &atomic.Int64{}
		url, hc := "", short
		if tc.setup != nil {
			url, hc = tc.setup(t)
		} else {
			h := tc.handler
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				served.Add(1)
				h(w, r)
			}))
			t.Cleanup(srv.Close)
			url = srv.URL + "/token"
		}
		runs[i] = running{r: newRig(t, url, hc, nil, seedRT), served: served}
	}
	begin := time.Now()
	for _, rn := range runs {
		if err := rn.r.sched.RefreshNow(credName); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(window) // count what happens in a fixed window
	for i, rn := range runs {
		if cases[i].ok { // a slow machine may need longer than the window
			deadline := time.Now().Add(10 * time.Second)
			for rn.r.sink() != newAT && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
		}
		rn.r.stop()
	}
	for i, tc := range cases {
		r, served := runs[i].r, runs[i].served
		t.Run(tc.name, func(t *testing.T) {
			r.t = t
			all, errs := r.obs.count()
			// The rate bound counts attempts started within the window: on a
			// loaded machine the stop comes late, and the retries made after
			// the window are no sign of a hot loop (11 seen in a cold CI run).
			n := r.obs.startedBefore(begin.Add(window))
			t.Logf("%d attempts started in %v, %d until the stop (%d client timeouts)", n, window, all, timedOut(errs))
			if all < 1 || n > tc.max {
				t.Errorf("%d token-endpoint attempts in %v, want 1..%d", n, window, tc.max)
			}
			// Stopping the scheduler at the end of the window cancels a retry
			// that may not have reached the server yet (likely on a loaded
			// machine): at most one such attempt, cancelled, is not served.
			// Likewise an attempt the client gave up on (its 300 ms timeout)
			// may have ended before the server's handler ran, when the
			// machine is busy (a cold CI run compiles while tests run).
			cut, gaveUp := cancelledAtStop(errs), timedOut(errs)
			if got := int(served.Load()); tc.setup == nil && (got > all || got < all-cut-gaveUp) {
				t.Errorf("server saw %d requests, scheduler reported %d attempts (%d cancelled by the stop, %d timed out in the client)", got, all, cut, gaveUp)
			}
			if tc.ok {
				if len(errs) != 0 || r.sink() != newAT {
					t.Errorf("usable answer not delivered: errors %v", errs)
				}
				rec, err := r.store.Load(t.Context(), credName)
				if err != nil || rec.RefreshToken.Reveal() != newRT || rec.Generation != 2 {
					t.Errorf("rotation not committed: generation %d, err %v", rec.Generation, err)
				}
			} else {
				if got := r.sink(); got != goodAT {
					t.Errorf("the last good token left the sink (sink holds %d bytes)", len(got))
				}
				if !r.logged(tc.class) {
					t.Errorf("no log line names %q with error_class %q; logs: %v", credName, tc.class, messages(r))
				}
				for _, err := range errs {
					if !strings.Contains(err.Error(), credName) || grants.ClassOf(err) != grants.Class(tc.class) {
						t.Errorf("error %q: want the credential named and class %s, got %s", err, tc.class, grants.ClassOf(err))
					}
				}
			}
			r.checkNoSecrets()
		})
	}
}

func messages(r *rig) []string {
	var m []string
	for _, e := range r.logs.All() {
		m = append(m, fmt.Sprintf("%s %v", e.Message, e.ContextMap()))
	}
	return m
}

// cancelledAtStop is 1 when the last reported attempt failed because the
// scheduler was stopped (its context cancelled), else 0.
// timedOut counts the attempts that ended in the client's own timeout.
func timedOut(errs []error) int {
	n := 0
	for _, err := range errs {
		var te interface{ Timeout() bool }
		if (errors.As(err, &te) && te.Timeout()) || errors.Is(err, context.DeadlineExceeded) {
			n++
		}
	}
	return n
}

func cancelledAtStop(errs []error) int {
	if len(errs) > 0 && errors.Is(errs[len(errs)-1], context.Canceled) {
		return 1
	}
	return 0
}
