package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/fakeprovider"
	"github.com/tokend/tokend/internal/state"
)

// TestAuthorizeDeviceCommand: `tokend authorize NAME --device` prints the
// verification URI and the user code on stdout, polls until the user
// approves, and stores the tokens in the state store like --code does.
func TestAuthorizeDeviceCommand(t *testing.T) {
	p, err := fakeprovider.New(fakeprovider.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(func() { _ = p.Close(); srv.Close() })
	p.AddClient("tv", "tv-secret-value")
	p.SetDeviceTiming(time.Minute, time.Second) // the shortest interval the wire can say
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "tokend.toml")
	cfg := fmt.Sprintf("[state]\ndir = %q\n\n[[credential]]\nname = \"tv\"\ntoken_url = \"%[2]s/token\"\ndevice_authorization_url = \"%[2]s/device_authorization\"\n"+
		"client_id = \"tv\"\nclient_secret = \"tv-secret-value\"\n  [[credential.sink]]\n  type = \"file\"\n  path = %[3]q\n",
		filepath.Join(dir, "state"), srv.URL, filepath.Join(dir, "tv.token"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run("authorize", "tv", "--config", cfgPath, "--device", "--code", "-"); code != 2 || !strings.Contains(stderr, "exclude each other") {
		t.Fatalf("--device with --code: exit %d %q", code, stderr)
	}
	r := startAuthorizeCmd(t, "tv", "--config", cfgPath, "--device")
	uri, user := r.firstLine(t), r.firstLine(t)
	if !strings.HasPrefix(uri, srv.URL+"/device?user_code=") || !strings.HasSuffix(uri, user) {
		t.Fatalf("stdout: %q %q", uri, user)
	}
	if !p.ApproveDevice(user) {
		t.Fatalf("no device grant waiting for %q", user)
	}
	code, stderr := r.exit(t)
	if code != 0 || !strings.Contains(stderr, "enter the code "+user) || !strings.Contains(stderr, `stored tokens for "tv" in the state store; refresh token `) {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	st, err := state.Open(filepath.Join(dir, "state"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec, err := st.Load(context.Background(), "tv")
	if err != nil || rec.Status != state.StatusOK || rec.RefreshToken.Reveal() != p.CurrentRefreshToken("tv")[0] {
		t.Fatalf("stored %+v %v", rec, err)
	}
	if strings.Contains(stderr, rec.RefreshToken.Reveal()) || strings.Contains(stderr, "tv-secret-value") {
		t.Fatal("stderr shows a token or the secret")
	}
	if ds := p.DeviceStats(); ds.TooFast != 0 || ds.Polls < 1 {
		t.Fatalf("provider saw %+v", ds)
	}
}
