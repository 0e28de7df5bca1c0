package scheduler

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tokend/tokend/internal/secret"
	"github.com/tokend/tokend/internal/state"
)

// TestToken: the current token as sinks get it; ErrNoToken with the reason
// while pending and in needs_reauth; ErrUnknownCredential.
func TestToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, time.Hour, func(c *Credential, o *Options) { c.Seed = nil })
		if _, st, err := h.s.Token("cred"); !errors.Is(err, ErrNoToken) || st != state.StatusPending || !strings.Contains(err.Error(), "none obtained yet") {
			t.Fatalf("before start: %s %v", st, err)
		}
		h.start()
		time.Sleep(time.Second)
		synctest.Wait()
		if _, st, err := h.s.Token("cred"); !errors.Is(err, ErrNoToken) || st != state.StatusNeedsReauth || !strings.Contains(err.Error(), "needs re-authorization") {
			t.Fatalf("needs_reauth: %s %v", st, err)
		}
		exp := time.Now().Add(10 * time.Minute)
		if err := h.s.Import(context.Background(), "cred", ImportedToken{RefreshToken: secret.New(h.src.current),
			AccessToken: secret.New("at-imported"), TokenType: "bearer", Scope: "read", ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		tok, st, err := h.s.Token("cred")
		if err != nil || st != state.StatusOK || tok.AccessToken.Reveal() != "at-imported" || tok.TokenType != "bearer" ||
			tok.Scope != "read" || !tok.ExpiresAt.Equal(exp) || tok.Generation != h.store.get("cred").Generation || tok.Credential != "cred" {
			t.Fatalf("after import: %+v %s %v", tok, st, err)
		}
		if _, _, err := h.s.Token("nope"); !errors.Is(err, ErrUnknownCredential) {
			t.Fatalf("unknown: %v", err)
		}
		h.stop()
	})
}
