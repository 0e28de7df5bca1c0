package testkit_test

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/testkit"
)

// fatalT records Fatalf and ends its goroutine, as testing.T does.
type fatalT struct {
	testing.TB
	msg string
}

func (f *fatalT) Helper() {}
func (f *fatalT) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestWaitUntil(t *testing.T) {
	var mu sync.Mutex
	n := 0
	testkit.WaitUntil(t, "three polls", 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		n++
		return n == 3
	})
	if n != 3 {
		t.Fatalf("returned after %d polls, want 3", n)
	}

	ft := &fatalT{TB: t}
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		testkit.WaitUntil(ft, "never", 50*time.Millisecond, func() bool { return false })
	}()
	<-done
	if ft.msg != "timed out waiting for never" {
		t.Fatalf("failure message %q", ft.msg)
	}
	if el := time.Since(start); el < 50*time.Millisecond {
		t.Fatalf("gave up after %v, before the timeout", el)
	}
}

func TestClock(t *testing.T) {
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := testkit.NewClock(start)
	if !c.Now().Equal(start) {
		t.Fatalf("Now %v, want %v", c.Now(), start)
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { c.Add(time.Second); _ = c.Now() })
	}
	wg.Wait()
	c.Add(-2 * time.Second)
	if want := start.Add(8 * time.Second); !c.Now().Equal(want) {
		t.Fatalf("Now %v, want %v", c.Now(), want)
	}
}

func TestConfigTOML(t *testing.T) {
	cfg := testkit.Config{
		StateDir:      "/s",
		StatusListen:  "127.0.0.1:0",
		ShutdownGrace: "5s",
		Credentials: []testkit.Credential{
			{Name: "app", TokenURL: "http://127.0.0.1:1/token", ClientID: "app", ClientSecretFile: "/app.secret", RefreshTokenFile: "/app.rt",
				Sinks: []testkit.Sink{{Type: "file", Path: "/app.json", Format: "json"}, {Type: "envfile", Path: "/tokens.env", Var: "APP_TOKEN"}}},
			{Name: "svc", Grant: "client_credentials", TokenURL: "http://127.0.0.1:1/token", ClientID: "svc", ClientSecret: "svc-secret", AuthStyle: "post",
				Sinks: []testkit.Sink{{Type: "envfile", Path: "/tokens.env", Var: "SVC_TOKEN"}}},
		},
	}
	want := `[state]
dir = "/s"
[status]
listen = "127.0.0.1:0"
[scheduler]
shutdown_grace = "5s"

[[credential]]
name = "app"
token_url = "http://127.0.0.1:1/token"
client_id = "app"
client_secret_file = "/app.secret"
refresh_token_file = "/app.rt"
  [[credential.sink]]
  type = "file"
  path = "/app.json"
  format = "json"
  [[credential.sink]]
  type = "envfile"
  path = "/tokens.env"
  var = "APP_TOKEN"

[[credential]]
name = "svc"
grant = "client_credentials"
token_url = "http://127.0.0.1:1/token"
client_id = "svc"
client_secret = "svc-secret"
auth_style = "post"
  [[credential.sink]]
  type = "envfile"
  path = "/tokens.env"
  var = "SVC_TOKEN"
`
	got := cfg.TOML()
	if got != want {
		t.Fatalf("TOML:\n%s\nwant:\n%s", got, want)
	}
	// It is a config tokend accepts.
	dec, err := config.Decode([]byte(got))
	if err != nil {
		t.Fatalf("config.Decode: %v", err)
	}
	var names []string
	for _, cr := range dec.Credentials {
		names = append(names, cr.Name)
	}
	if dec.State.Dir != "/s" || strings.Join(names, ",") != "app,svc" {
		t.Fatalf("decoded state dir %q, credentials %q", dec.State.Dir, names)
	}
	withKey := testkit.Config{StateDir: "/s", StateEncryptionKeyFile: "/k"}.TOML()
	if withKey != "[state]\ndir = \"/s\"\nencryption_key_file = \"/k\"\n" {
		t.Fatalf("TOML with a key file:\n%s", withKey)
	}
}
