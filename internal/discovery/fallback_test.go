package discovery

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memStore is a discovery Store in memory.
type memStore struct {
	mu   sync.Mutex
	docs map[string][]byte
}

func (m *memStore) SaveDiscovery(_ context.Context, issuer string, doc []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.docs[issuer] = doc
	return nil
}

func (m *memStore) LoadDiscovery(_ context.Context, issuer string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d, ok := m.docs[issuer]; ok {
		return d, nil
	}
	return nil, errors.New("not found")
}

// TestResolveFallsBack: fetched metadata is stored; an unavailable issuer
// gets the stored copy with the fetch error; nothing stored fails, and only
// network failures and 5xx are ErrUnavailable.
func TestResolveFallsBack(t *testing.T) {
	var modeV atomic.Value
	modeV.Store("")
	setMode := func(m string) { modeV.Store(m) }
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch modeV.Load().(string) {
		case "down":
			panic(http.ErrAbortHandler)
		case "503":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "404":
			http.NotFound(w, r)
		default:
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL, "token_endpoint": srv.URL + "/token",
				"device_authorization_endpoint": srv.URL + "/device"})
		}
	}))
	defer srv.Close()
	ctx, st := context.Background(), &memStore{docs: map[string][]byte{}}
	t0 := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)

	for _, m := range []string{"down", "503", "404"} {
		setMode(m)
		_, _, err := Resolve(ctx, nil, st, srv.URL, t0)
		if err == nil || errors.Is(err, ErrUnavailable) != (m != "404") {
			t.Fatalf("%s with nothing stored: %v (unavailable %v)", m, err, errors.Is(err, ErrUnavailable))
		}
	}
	setMode("up")
	r, saveErr, err := Resolve(ctx, nil, st, srv.URL, t0)
	if err != nil || saveErr != nil || r.FetchErr != nil || r.DeviceAuthorizationEndpoint != srv.URL+"/device" {
		t.Fatalf("up: %+v %v %v", r, saveErr, err)
	}
	for _, m := range []string{"down", "503", "404"} {
		setMode(m)
		r, _, err := Resolve(ctx, nil, st, srv.URL, t0.Add(time.Hour))
		if err != nil || r.FetchErr == nil || r.TokenEndpoint != srv.URL+"/token" || !r.DiscoveredAt.Equal(t0) || r.URL == "" {
			t.Fatalf("%s with metadata stored: %+v %v", m, r, err)
		}
	}
	if _, _, err := Resolve(ctx, nil, st, "http://127.0.0.1:1", t0); err == nil {
		t.Fatal("another issuer got this issuer's stored metadata")
	}
	if _, _, err := Decode([]byte(`{"issuer":"x"}`)); err == nil {
		t.Fatal("a stored document without token_endpoint decoded")
	}
}
