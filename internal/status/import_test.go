package status

import (
	"context"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/secret"
)

// TestImportKeepsIssuedAt: a token imported through the daemon keeps the
// time it was issued (tokend authorize's answer, a token JSON's import
// time), as the direct store path does; before, the wire form dropped it
// and the daemon stamped its own now.
func TestImportKeepsIssuedAt(t *testing.T) {
	ts := startServer(t, "127.0.0.1:0", healthyBackend())
	ctx := context.Background()
	issued := time.Date(2030, 5, 6, 7, 0, 0, 0, time.FixedZone("x", 3600))
	err := ts.client.Import(ctx, "app", ImportRequest{RefreshToken: secret.New("rt-issued"), AccessToken: secret.New("at-issued"),
		ExpiresAt: issued.Add(time.Hour), IssuedAt: issued})
	got := ts.b.imported["app"]
	if err != nil || !got.IssuedAt.Equal(issued) || !got.ExpiresAt.Equal(issued.Add(time.Hour)) {
		t.Fatalf("Import: %v, issued %v expires %v", err, got.IssuedAt, got.ExpiresAt)
	}
	// Not given: zero, so the daemon's record uses its own now.
	if err := ts.client.Import(ctx, "svc", ImportRequest{RefreshToken: secret.New("rt-only")}); err != nil || !ts.b.imported["svc"].IssuedAt.IsZero() {
		t.Fatalf("Import without issued_at: %v %v", err, ts.b.imported["svc"].IssuedAt)
	}
}

// TestImportCarriesRefreshTokenExpiryAndExtra: tokend authorize's answer
// reaches a running daemon with the refresh token's expiry and the kept
// fields, as the direct store path keeps them.
func TestImportCarriesRefreshTokenExpiryAndExtra(t *testing.T) {
	ts := startServer(t, "127.0.0.1:0", healthyBackend())
	rtExp := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	err := ts.client.Import(context.Background(), "app", ImportRequest{RefreshToken: secret.New("rt-x"), AccessToken: secret.New("at-x"),
		RefreshTokenExpiresAt: rtExp, Extra: map[string]secret.Secret{"id_token": secret.New("idt-x"), "instance_url": secret.New("https://i.example")}})
	got := ts.b.imported["app"]
	if err != nil || !got.RefreshTokenExpiresAt.Equal(rtExp) || got.Extra["id_token"].Reveal() != "idt-x" || got.Extra["instance_url"].Reveal() != "https://i.example" {
		t.Fatalf("Import: %v, got %+v", err, got)
	}
}
