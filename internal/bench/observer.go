package bench

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/tokend/tokend/internal/fakeprovider"
)

// observed is a fake provider served behind a recorder of its successful
// refresh_token grants: for each, which side it belongs to (the side a
// refresh token was seeded for; a rotated token inherits it), when it
// happened, and how much life the access token issued with the presented
// refresh token had left (the refresh margin; unknown for seeded tokens).
type observed struct {
	p    *fakeprovider.Provider
	base string
	srv  *http.Server

	mu   sync.Mutex
	rts  map[string]rtInfo // refresh token -> its side and its access token's expiry
	done map[string][]time.Time
	left map[string][]time.Duration
}

type rtInfo struct {
	side string
	exp  time.Time // zero for a seeded token
}

// newObserved starts a provider issuing access tokens of ttl, with clients
// "app" and "peer" (secrets "app-secret", "peer-secret").
func newObserved(ttl time.Duration) (*observed, error) {
	p, err := fakeprovider.New(fakeprovider.Options{AccessTTL: ttl})
	if err != nil {
		return nil, err
	}
	p.AddClient("app", "app-secret")
	p.AddClient("peer", "peer-secret")
	ob := &observed{p: p, rts: map[string]rtInfo{}, done: map[string][]time.Time{}, left: map[string][]time.Duration{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ob.base = "http://" + ln.Addr().String()
	ob.srv = &http.Server{Handler: http.HandlerFunc(ob.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = ob.srv.Serve(ln) }()
	return ob, nil
}

func (ob *observed) close() {
	_ = ob.srv.Close()
	_ = ob.p.Close()
}

// seed issues a refresh token to client for side.
func (ob *observed) seed(client, side string) string {
	rt := ob.p.IssueRefreshToken(client, "read")
	ob.mu.Lock()
	ob.rts[rt] = rtInfo{side: side}
	ob.mu.Unlock()
	return rt
}

// recorder keeps a copy of what the handler wrote.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(s int) { r.status = s; r.ResponseWriter.WriteHeader(s) }
func (r *recorder) Write(b []byte) (int, error) {
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

func (ob *observed) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	ob.p.Handler().ServeHTTP(rec, r)
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("grant_type") != "refresh_token" || rec.status != http.StatusOK {
		return
	}
	var resp struct {
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int64  `json:"expires_in"`
	}
	if json.Unmarshal(rec.body.Bytes(), &resp) != nil {
		return
	}
	now := time.Now()
	ob.mu.Lock()
	defer ob.mu.Unlock()
	old, ok := ob.rts[form.Get("refresh_token")]
	if !ok {
		return
	}
	delete(ob.rts, form.Get("refresh_token"))
	ob.done[old.side] = append(ob.done[old.side], now)
	if !old.exp.IsZero() {
		ob.left[old.side] = append(ob.left[old.side], old.exp.Sub(now))
	}
	ob.rts[resp.RefreshToken] = rtInfo{side: old.side, exp: now.Add(time.Duration(resp.ExpiresIn) * time.Second)}
}

// refreshes returns side's refresh times so far.
func (ob *observed) refreshes(side string) []time.Time {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	return append([]time.Time(nil), ob.done[side]...)
}

// margins returns side's refresh margins so far.
func (ob *observed) margins(side string) []time.Duration {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	return append([]time.Duration(nil), ob.left[side]...)
}

// countIn counts ts in [from, to).
func countIn(ts []time.Time, from, to time.Time) int {
	n := 0
	for _, t := range ts {
		if !t.Before(from) && t.Before(to) {
			n++
		}
	}
	return n
}
