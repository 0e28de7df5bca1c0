package storetest

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Item 8: the provider rotates and sends "200 OK" and half the body, then
// the connection drops. The outcome is unknown (the new refresh token never
// arrived), so the intent must stay: after a restart tokend reports the
// credential by name as "refresh outcome unknown" (before: the 200 status
// cleared the intent as "outcome known", and the restart said nothing).
func TestSuccessBodyNeverArrived(t *testing.T) {
	var cut atomic.Bool
	cut.Store(true)
	h := newWrappedHarness(t, time.Hour, func(inner http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !cut.Load() {
				inner.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			inner.ServeHTTP(rec, r) // the provider rotates
			body := rec.Body.Bytes()
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(rec.Code)
			_, _ = w.Write(body[:len(body)/2]) // the rest never comes
		})
	})
	p := h.start()
	if !until(20*time.Second, func() bool { return strings.Count(p.stderr.String(), "refresh failed") >= 2 }) {
		t.Fatalf("the cut answers were not seen as failures:\n%s", p.stderr)
	}
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.stderr)
	}
	recs := h.records()
	for _, c := range creds {
		if recs[c].Intent == nil {
			t.Errorf("%s: the intent was cleared although the answer's body never arrived", c)
		}
	}
	cut.Store(false)
	p = h.start()
	time.Sleep(2 * time.Second)
	_ = p.stop(t)
	log := p.stderr.String()
	for _, c := range creds {
		if !strings.Contains(log, "refresh outcome unknown") || !strings.Contains(log, `"credential":"`+c+`"`) {
			t.Errorf("%s: the restart does not report the unknown outcome by name:\n%s", c, log)
		}
	}
}
