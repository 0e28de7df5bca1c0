package bootstrap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/fakeprovider"
	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/testkit"
)

// deviceRun is one device flow against the strict fake (fakeprovider's
// device.go): no real sleeping; every wait moves the fake's clock (plus
// skew) and the client's clock, and is recorded.
type deviceRun struct {
	f      *fake
	cfg    *config.Config
	cr     *config.Credential
	client *testkit.Clock
	sleeps []time.Duration
	skew   time.Duration            // the provider's clock runs this much faster per wait
	onPoll func(n int, user string) // before poll n (1-based), as the user
	out    bytes.Buffer
	log    bytes.Buffer
}

func newDeviceRun(t *testing.T) *deviceRun {
	t.Helper()
	f := startFake(t, fakeprovider.Options{})
	f.AddClient("dev", "dev-secret-value")
	cfg := loadConfig(t, fmt.Sprintf("name = \"dev\"\ntoken_url = %q\ndevice_authorization_url = %q\nclient_id = \"dev\"\nclient_secret = \"dev-secret-value\"\nscopes = [\"read\"]",
		f.URL+"/token", f.URL+"/device_authorization"))
	cr, _ := cfg.Credential("dev")
	return &deviceRun{f: f, cfg: cfg, cr: cr, client: testkit.NewClock(f.clk.Now())}
}

func (r *deviceRun) run(t *testing.T) (grants.Token, error) {
	t.Helper()
	var user string
	opts := DeviceOptions{Out: &r.out, Log: &r.log, Now: r.client.Now,
		Sleep: func(ctx context.Context, d time.Duration) error {
			r.sleeps = append(r.sleeps, d)
			r.f.clk.Add(d + r.skew)
			r.client.Add(d)
			if user == "" {
				user = strings.Split(strings.TrimSpace(r.out.String()), "\n")[1]
			}
			if r.onPoll != nil {
				r.onPoll(len(r.sleeps), user)
			}
			return nil
		},
		Store: func(ctx context.Context, tok grants.Token) error {
			_, err := Store(ctx, r.cfg, r.cr.Name, FromToken(tok), StoreOptions{})
			return err
		}}
	return AuthorizeDevice(context.Background(), r.cr, client(t, r.cr), opts)
}

// TestDeviceFlowSlowDownThenApproved: pending, slow_down (the interval goes
// from 5 to 10 s and stays there: the fake answers slow_down again to any
// poll sooner than its raised interval), pending, approved: the tokens are
// stored like the other bootstrap paths.
func TestDeviceFlowSlowDownThenApproved(t *testing.T) {
	r := newDeviceRun(t)
	r.onPoll = func(n int, user string) {
		if n == 2 {
			r.f.SlowDownNext(1)
		}
		if n == 4 && !r.f.ApproveDevice(user) {
			t.Errorf("no grant waiting for user code %q", user)
		}
	}
	tok, err := r.run(t)
	if err != nil {
		t.Fatalf("device flow: %v\nlog: %s", err, r.log.String())
	}
	want := []time.Duration{5 * time.Second, 5 * time.Second, 10 * time.Second, 10 * time.Second}
	if fmt.Sprint(r.sleeps) != fmt.Sprint(want) {
		t.Fatalf("waits %v, want %v (5 s, then +5 s after slow_down)", r.sleeps, want)
	}
	st := r.f.DeviceStats()
	if st.Authorizations != 1 || st.Polls != 4 || st.SlowDowns != 1 || st.TooFast != 0 {
		t.Fatalf("provider saw %+v", st)
	}
	lines := strings.Split(strings.TrimSpace(r.out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], r.f.URL+"/device?user_code=") || len(lines[1]) != 9 {
		t.Fatalf("stdout = %q, want the complete verification URI and the user code", r.out.String())
	}
	if !strings.Contains(r.log.String(), "enter the code "+lines[1]) || !strings.Contains(r.log.String(), "polling every 10s") {
		t.Fatalf("instructions: %q", r.log.String())
	}
	rec, err := stored(t, r.cfg, "dev")
	if err != nil || rec.Status != state.StatusOK || rec.RefreshToken.IsZero() || !rec.RefreshToken.Equal(tok.RefreshToken) {
		t.Fatalf("stored: %+v %v", rec, err)
	}
	for _, s := range []string{tok.RefreshToken.Reveal(), tok.AccessToken.Reveal(), "dev-secret-value"} {
		if strings.Contains(r.out.String()+r.log.String(), s) {
			t.Fatal("a token or the client secret was printed")
		}
	}
}

// TestDeviceFlowEnds: denied at the verification page; expired by
// expires_in (the client's own clock); expired_token from the provider
// (whose clock runs ahead). Nothing is stored.
func TestDeviceFlowEnds(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(r *deviceRun)
		want  error
		polls int
	}{
		{"denied", func(r *deviceRun) {
			r.onPoll = func(n int, user string) {
				if n == 2 {
					r.f.DenyDevice(user)
				}
			}
		}, ErrDeviceDenied, 2},
		{"expires_in passes", func(r *deviceRun) { r.f.SetDeviceTiming(12*time.Second, 5*time.Second) }, ErrDeviceExpired, 2},
		{"expired_token", func(r *deviceRun) {
			r.f.SetDeviceTiming(30*time.Second, 5*time.Second)
			r.skew = 10 * time.Second // the provider's clock: 15 s per wait
		}, ErrDeviceExpired, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newDeviceRun(t)
			tc.setup(r)
			_, err := r.run(t)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if st := r.f.DeviceStats(); st.Polls != tc.polls || st.TooFast != 0 {
				t.Fatalf("provider saw %+v, want %d polls", st, tc.polls)
			}
			if _, err := stored(t, r.cfg, "dev"); !errors.Is(err, state.ErrNotFound) {
				t.Fatalf("something was stored: %v", err)
			}
		})
	}
}

// TestDeviceFlowNeedsEndpoint: without device_authorization_url the flow
// says what to set.
func TestDeviceFlowNeedsEndpoint(t *testing.T) {
	cfg := loadConfig(t, "name = \"x\"\ntoken_url = \"https://idp.example/token\"\nclient_id = \"x\"\nclient_secret = \"s\"")
	cr, _ := cfg.Credential("x")
	if _, err := AuthorizeDevice(context.Background(), cr, client(t, cr), DeviceOptions{}); err == nil || !strings.Contains(err.Error(), "device_authorization_url") {
		t.Fatalf("err = %v", err)
	}
}
