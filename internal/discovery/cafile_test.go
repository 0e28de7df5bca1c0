package discovery

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/grants"
)

// TestDiscoveryTrustsCAFile: an issuer behind a private CA is discovered
// with the credential's ca_file (RootCAs), and refused without it.
func TestDiscoveryTrustsCAFile(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL, "token_endpoint": srv.URL + "/token"})
	}))
	t.Cleanup(srv.Close)
	roots, err := grants.ParseCAFile(pemOf(srv.Certificate().Raw))
	if err != nil {
		t.Fatal(err)
	}
	without := config.Credential{Name: "kc", Grant: "refresh_token", Issuer: srv.URL}
	if err := ApplyCredential(context.Background(), &without, nil); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without ca_file: err = %v", err)
	}
	with := config.Credential{Name: "kc", Grant: "refresh_token", Issuer: srv.URL, RootCAs: roots}
	if err := ApplyCredential(context.Background(), &with, nil); err != nil || with.TokenURL != srv.URL+"/token" {
		t.Fatalf("with ca_file: token_url %q, err = %v", with.TokenURL, err)
	}
}

func pemOf(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
