package crashtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"time"
)

// killMode says how the tap kills tokend when it is armed.
type killMode int

const (
	killNone     killMode = iota
	killBefore            // the provider rotated; tokend is killed before the answer is sent
	killAfterAns          // the answer is sent and flushed; tokend is killed at once (races the commit)
)

// entry is one refresh request as the provider saw it.
type entry struct {
	run       int
	cred      string // the client id, which is also the credential name
	presented string
	status    int
	issued    string // the new refresh token in a 200 answer
}

// tap wraps the provider's handler, keeps a ledger of every refresh request
// and its answer, and kills tokend at a chosen point of one refresh.
type tap struct {
	inner http.Handler

	mu       sync.Mutex
	run      int
	ledger   []entry
	mode     killMode
	kill     func() // kills the current tokend; set per run
	inflight int
}

func (t *tap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t.mu.Lock()
	t.inflight++
	run := t.run
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		t.inflight--
		t.mu.Unlock()
	}()
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, _ := url.ParseQuery(string(body))
	cred, _, ok := r.BasicAuth()
	if !ok {
		cred = form.Get("client_id")
	}
	if u, err := url.QueryUnescape(cred); err == nil {
		cred = u
	}
	rec := httptest.NewRecorder()
	t.inner.ServeHTTP(rec, r)
	if form.Get("grant_type") != "refresh_token" {
		copyResponse(w, rec)
		return
	}
	var ans struct {
		RefreshToken string `json:"refresh_token"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &ans)
	t.mu.Lock()
	t.ledger = append(t.ledger, entry{run: run, cred: cred, presented: form.Get("refresh_token"), status: rec.Code, issued: ans.RefreshToken})
	mode, kill := killNone, t.kill
	if rec.Code == http.StatusOK && t.mode != killNone && run == t.run {
		mode, t.mode = t.mode, killNone
	}
	t.mu.Unlock()
	switch mode {
	case killBefore:
		kill()
		panic(http.ErrAbortHandler) // the answer never leaves the provider
	case killAfterAns:
		copyResponse(w, rec)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		kill()
	default:
		copyResponse(w, rec)
	}
}

func copyResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// startRun sets the run number and the kill function for a new tokend process.
func (t *tap) startRun(run int, kill func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.run, t.kill, t.mode = run, kill, killNone
}

// arm makes the next successful refresh of the current run kill tokend.
func (t *tap) arm(m killMode) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.mode = m
}

// armed reports whether an armed kill has not fired yet.
func (t *tap) armed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mode != killNone
}

// settle waits until no request is being handled, so the ledger is complete
// for a dead tokend.
func (t *tap) settle() {
	for range 500 {
		t.mu.Lock()
		n := t.inflight
		t.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// entries returns a copy of the ledger.
func (t *tap) entries() []entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]entry(nil), t.ledger...)
}
