package vaultclient

import (
	"context"
	"time"

	"github.com/hashicorp/vault/api"
	"go.uber.org/zap"
)

// Re-login backoff after a failed login.
const (
	reloginMin = time.Second
	reloginMax = time.Minute
)

// Run keeps the Vault token alive until ctx ends: a renewable token is
// renewed by the api's LifetimeWatcher; when it can no longer be renewed
// (max TTL reached, revoked, renewal refused) Run logs in again, backing off
// from 1 s to 1 min while login fails. A token without expiry (a root token)
// needs nothing. Run returns nil when ctx ends.
//
// Run is tokend's one long-lived goroutine outside internal/scheduler: the
// daemon starts it next to the scheduler and waits for it on shutdown. The
// LifetimeWatcher runs its own goroutine, stopped before each return.
func (c *Client) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		auth := c.auth.Load()
		if auth == nil {
			<-ctx.Done() // static token without expiry
			return nil
		}
		c.watch(ctx, auth)
		if ctx.Err() != nil {
			return nil
		}
		c.relogin(ctx)
	}
	return nil
}

// watch renews auth until the watcher gives up or ctx ends.
func (c *Client) watch(ctx context.Context, auth *api.SecretAuth) {
	w, err := c.api.NewLifetimeWatcher(&api.LifetimeWatcherInput{
		Secret:      &api.Secret{Auth: auth},
		RenewBuffer: 1,
	})
	if err != nil {
		c.log.Warn("cannot watch the vault token; logging in again", zap.Error(err))
		return
	}
	go w.Start()
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case err := <-w.DoneCh():
			if err != nil {
				c.log.Warn("vault token renewal failed; logging in again", zap.Error(Describe(err)))
			} else {
				c.log.Info("vault token reached its maximum lifetime; logging in again")
			}
			return
		case r := <-w.RenewCh():
			c.renewals.Add(1)
			var ttl time.Duration
			if r != nil && r.Secret != nil && r.Secret.Auth != nil {
				ttl = time.Duration(r.Secret.Auth.LeaseDuration) * time.Second
			}
			c.log.Debug("vault token renewed", zap.Duration("ttl", ttl))
		}
	}
}

// relogin logs in until it succeeds or ctx ends.
func (c *Client) relogin(ctx context.Context) {
	wait := reloginMin
	for {
		err := c.login(ctx)
		if err == nil || ctx.Err() != nil {
			return
		}
		c.log.Error("vault login failed; retrying", zap.Error(err), zap.Duration("retry_in", wait))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, reloginMax)
	}
}
