package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/grants"
)

// ErrDeviceExpired and ErrDeviceDenied end a device flow without tokens.
var (
	ErrDeviceExpired = errors.New("the device code expired before the authorization was completed; run tokend authorize --device again")
	ErrDeviceDenied  = errors.New("the authorization was denied at the verification page; nothing was stored")
)

// slowDownStep is what RFC 8628 §3.5 adds to the interval on slow_down.
const slowDownStep = 5 * time.Second

// DeviceOptions tunes AuthorizeDevice.
type DeviceOptions struct {
	Out io.Writer // the verification URI (line 1) and the user code (line 2)
	Log io.Writer // instructions and progress (stderr); nil discards
	// Store saves the tokens as the other bootstrap paths do; nil stores
	// nothing.
	Store func(ctx context.Context, tok grants.Token) error
	// Sleep waits d or until ctx ends; nil uses a timer. Now is the clock
	// the device code's expiry is checked against; nil is time.Now. Tests
	// inject both so that no test waits five real seconds.
	Sleep func(ctx context.Context, d time.Duration) error
	Now   func() time.Time
}

// AuthorizeDevice runs the device authorization grant (RFC 8628) for cr: it
// asks cr.DeviceAuthorizationURL for a device code, prints where to go and
// what to type, polls the token endpoint every interval (5 s unless the
// provider says otherwise; +5 s after each slow_down, kept for every later
// poll), keeps waiting on authorization_pending, stops on expired_token,
// access_denied, the code's expires_in or any other error, and hands the
// tokens to opts.Store. Network failures while polling are retried at the
// same pace until the code expires. Errors never quote a code or token.
func AuthorizeDevice(ctx context.Context, cr *config.Credential, c *grants.Client, opts DeviceOptions) (grants.Token, error) {
	if cr.DeviceAuthorizationURL == "" {
		return grants.Token{}, fmt.Errorf("credential %q has no device_authorization_url (set it, or an issuer whose metadata has device_authorization_endpoint)", cr.Name)
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	da, err := c.RequestDeviceCode(ctx, cr.DeviceAuthorizationURL)
	if err != nil {
		return grants.Token{}, fmt.Errorf("requesting a device code: %w", err)
	}
	open := da.VerificationURI
	if da.VerificationURIComplete != "" {
		open = da.VerificationURIComplete
	}
	fmt.Fprintln(opts.Out, open)
	fmt.Fprintln(opts.Out, da.UserCode)
	fmt.Fprintf(opts.Log, "Open %s and enter the code %s (or open the first line above, which carries it); waiting up to %s...\n",
		da.VerificationURI, da.UserCode, da.ExpiresAt.Sub(opts.Now()).Round(time.Second))
	interval := da.Interval
	for {
		if err := opts.Sleep(ctx, interval); err != nil {
			return grants.Token{}, err
		}
		if !opts.Now().Before(da.ExpiresAt) {
			return grants.Token{}, ErrDeviceExpired
		}
		tok, err := c.PollDeviceToken(ctx, da.DeviceCode)
		if err == nil {
			if opts.Store != nil {
				if err := opts.Store(ctx, tok); err != nil {
					return grants.Token{}, fmt.Errorf("storing the tokens: %w", err)
				}
			}
			return tok, nil
		}
		var ge *grants.Error
		if !errors.As(err, &ge) {
			return grants.Token{}, fmt.Errorf("polling the token endpoint: %w", err)
		}
		switch ge.Code {
		case "authorization_pending":
		case "slow_down":
			interval += slowDownStep
			fmt.Fprintf(opts.Log, "the provider asked to slow down; polling every %s\n", interval)
		case "expired_token":
			return grants.Token{}, ErrDeviceExpired
		case "access_denied":
			return grants.Token{}, ErrDeviceDenied
		case grants.CodeNetwork:
			fmt.Fprintf(opts.Log, "polling failed (%v); trying again\n", err)
		default:
			return grants.Token{}, fmt.Errorf("polling the token endpoint: %w", err)
		}
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
