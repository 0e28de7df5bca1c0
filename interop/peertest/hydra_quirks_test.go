package peertest

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/grants"
	"github.com/tokend/tokend/internal/secret"
)

// TestFositeReuseDescriptionKept: the real fosite (Ory Hydra's engine)
// answers a replayed refresh token with invalid_grant and a description
// whose informative part, "The refresh token was already used.", comes
// after some 240 characters of boilerplate. tokend keeps it (it was cut at
// 200 characters), classifies the answer as permanent and never echoes the
// token or the client secret.
func TestFositeReuseDescriptionKept(t *testing.T) {
	f := newFosite(t, time.Hour)
	code, body := f.post(t, url.Values{"grant_type": {"password"}, "username": {"peter"}, "password": {"secret"}, "scope": {"offline"}})
	rt, _ := body["refresh_token"].(string)
	if code != http.StatusOK || rt == "" {
		t.Fatalf("password grant: %d %v", code, body["error"])
	}
	c, err := grants.New(grants.Config{Name: "hydra", Grant: grants.GrantRefreshToken, TokenURL: f.srv.URL,
		ClientID: "my-client", ClientSecret: secret.New("foobar")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Refresh(ctx, secret.New(rt)); err != nil {
		t.Fatalf("first refresh: %v", err)
	}
	_, err = c.Refresh(ctx, secret.New(rt)) // the same token again: reuse
	var e *grants.Error
	if !errors.As(err, &e) || e.Code != "invalid_grant" || e.Class != grants.ClassPermanent {
		t.Fatalf("replay: %v", err)
	}
	if !strings.Contains(e.Description, "The refresh token was already used.") || len(e.Description) <= 200 {
		t.Fatalf("description lost its informative part (%d chars): %q", len(e.Description), e.Description)
	}
	if strings.Contains(err.Error(), rt) || strings.Contains(err.Error(), "foobar") {
		t.Fatal("the error echoes the refresh token or the client secret")
	}
}
