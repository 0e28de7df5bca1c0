package powercut

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

// entry is one refresh request as the provider saw it.
type entry struct {
	run       int
	cred      string // the client id, which is also the credential name
	presented string
	status    int
}

// tap wraps the provider's handler: it keeps a ledger of refresh requests,
// the access tokens issued per credential (in order), and can cut the power
// right after an answer has been sent (racing tokend's commit).
type tap struct {
	inner http.Handler

	mu       sync.Mutex
	run      int
	ledger   []entry
	issued   map[string]map[string]int // credential -> access token -> its order
	cutAfter int                       // cut after this many more answers; 0: not armed
	cut      func()
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
	var ans struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &ans)
	t.mu.Lock()
	if form.Get("grant_type") == "refresh_token" {
		t.ledger = append(t.ledger, entry{run: run, cred: cred, presented: form.Get("refresh_token"), status: rec.Code})
	}
	if ans.AccessToken != "" {
		if t.issued[cred] == nil {
			t.issued[cred] = map[string]int{}
		}
		t.issued[cred][ans.AccessToken] = len(t.issued[cred]) + 1
	}
	var cut func()
	if rec.Code == http.StatusOK && t.cutAfter > 0 && run == t.run {
		if t.cutAfter--; t.cutAfter == 0 {
			cut = t.cut
		}
	}
	t.mu.Unlock()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
	if cut != nil {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		cut()
	}
}

// startRun sets the run number and the kill function for a new process.
func (t *tap) startRun(run int, kill func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.run, t.cut, t.cutAfter = run, kill, 0
}

// arm makes the n-th next answered refresh of this run kill tokend.
func (t *tap) arm(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cutAfter = n
}

// settle waits until no request is being handled.
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

// order returns the issue order of access token tok for cred (1 the first),
// or 0 if the provider never issued it to cred.
func (t *tap) order(cred, tok string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.issued[cred][tok]
}
