package state

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/secret"
)

// TestRefreshTokenExpiryAndExtraTransitions: a rotated refresh token brings
// its own expiry (or none); an unrotated one keeps the stored expiry unless
// the answer restates it; kept fields merge, a later answer's values win.
func TestRefreshTokenExpiryAndExtraTransitions(t *testing.T) {
	rtExp := tBase.Add(180 * 24 * time.Hour)
	prev := edit(func(r *Record) {
		r.RefreshTokenExpiresAt, r.RefreshTokenIssuedAt = rtExp, tBase
		r.Extra = map[string]secret.Secret{"instance_url": secret.New("https://a.example"), "id_token": secret.New("id-1")}
	})
	tests := []struct {
		name      string
		tok       Tokens
		wantRTExp time.Time
		wantRTIss time.Time
		wantExtra map[string]string
	}{
		{"rotated with expiry", Tokens{RefreshToken: secret.New("rt2"), AccessToken: secret.New("a"), RefreshTokenExpiresAt: rtExp.Add(time.Hour),
			IssuedAt: tIssue, Extra: map[string]secret.Secret{"id_token": secret.New("id-2")}},
			rtExp.Add(time.Hour), tIssue, map[string]string{"instance_url": "https://a.example", "id_token": "id-2"}},
		{"rotated without expiry clears it", Tokens{RefreshToken: secret.New("rt2"), AccessToken: secret.New("a")},
			time.Time{}, time.Time{}, map[string]string{"instance_url": "https://a.example", "id_token": "id-1"}},
		{"not rotated keeps it", Tokens{AccessToken: secret.New("a")},
			rtExp, tBase, map[string]string{"instance_url": "https://a.example", "id_token": "id-1"}},
		{"not rotated, restated with jitter: not an extension", Tokens{AccessToken: secret.New("a"), IssuedAt: tIssue, RefreshTokenExpiresAt: rtExp.Add(2 * time.Second)},
			rtExp.Add(2 * time.Second), tBase, map[string]string{"instance_url": "https://a.example", "id_token": "id-1"}},
		{"not rotated, extended", Tokens{AccessToken: secret.New("a"), IssuedAt: tIssue, RefreshTokenExpiresAt: rtExp.Add(24 * time.Hour)},
			rtExp.Add(24 * time.Hour), tIssue, map[string]string{"instance_url": "https://a.example", "id_token": "id-1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := prev.Refreshed(tc.tok, tSent, tNow)
			if !got.RefreshTokenExpiresAt.Equal(tc.wantRTExp) {
				t.Errorf("RefreshTokenExpiresAt = %v, want %v", got.RefreshTokenExpiresAt, tc.wantRTExp)
			}
			if !got.RefreshTokenIssuedAt.Equal(tc.wantRTIss) {
				t.Errorf("RefreshTokenIssuedAt = %v, want %v", got.RefreshTokenIssuedAt, tc.wantRTIss)
			}
			extra := map[string]string{}
			for k, v := range got.Extra {
				extra[k] = v.Reveal()
			}
			if !reflect.DeepEqual(extra, tc.wantExtra) {
				t.Errorf("Extra = %v, want %v", extra, tc.wantExtra)
			}
			if prev.Extra["id_token"].Reveal() != "id-1" {
				t.Error("the transition changed the previous record's map")
			}
		})
	}
}

// TestCodecOptionalFields: the new fields round-trip, are omitted when
// unused (a record without them is what older builds wrote), and an old
// record decodes.
func TestCodecOptionalFields(t *testing.T) {
	c := jsonCodec{}
	rec := Record{Credential: "x", RefreshToken: secret.New("r"), RefreshTokenExpiresAt: tBase,
		Extra: map[string]secret.Secret{"instance_url": secret.New("https://i.example"), "id_token": secret.New("eyJ.x.y")}}
	data, err := c.encode(rec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.decode("x", data)
	if err != nil {
		t.Fatal(err)
	}
	if !got.RefreshTokenExpiresAt.Equal(tBase) || got.Extra["instance_url"].Reveal() != "https://i.example" || got.Extra["id_token"].Reveal() != "eyJ.x.y" || len(got.Extra) != 2 {
		t.Fatalf("round trip: %v %v", got.RefreshTokenExpiresAt, got.Extra)
	}
	plain, err := c.encode(Record{Credential: "x", RefreshToken: secret.New("r")})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(plain), "extra") || strings.Contains(string(plain), "refresh_token_expires_at") {
		t.Fatalf("unused optional fields written: %s", plain)
	}
	old := `{"v":1,"credential":"x","refresh_token":"r","generation":3,"status":"ok"}`
	if got, err := c.decode("x", []byte(old)); err != nil || got.Generation != 3 || got.Extra != nil || !got.RefreshTokenExpiresAt.IsZero() {
		t.Fatalf("old record: %+v %v", got, err)
	}
}
