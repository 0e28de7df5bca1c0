package state

import (
	"reflect"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/secret"
)

// fullRecord returns a record with every field set to a distinct value.
func fullRecord(name string) Record {
	at := time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.FixedZone("CET", 3600))
	return Record{
		Credential:   name,
		RefreshToken: secret.New("rt-secret-" + name),
		AccessToken:  secret.New("at-secret-" + name),
		TokenType:    "Bearer",
		Scope:        "read write",
		ExpiresAt:    at.Add(time.Hour),
		IssuedAt:     at,
		Generation:   42,
		LastSuccess:  at.Add(-time.Minute),
		LastError: &ErrorInfo{
			Class:       "transient",
			Code:        "temporarily_unavailable",
			Description: "provider said try later",
			At:          at.Add(-2 * time.Minute),
		},
		Status:                StatusBackoff,
		Intent:                &Intent{Generation: 43, StartedAt: at.Add(time.Second)},
		RefreshTokenExpiresAt: at.Add(90 * 24 * time.Hour),
		RefreshTokenIssuedAt:  at.Add(-time.Hour),
		Extra:                 map[string]secret.Secret{"instance_url": secret.New("https://" + name + ".example")},
	}
}

// TestRecordShape fails when Record, ErrorInfo or Intent gain a field, so
// that whoever adds one also teaches the codec and assertRecord about it.
func TestRecordShape(t *testing.T) {
	for typ, want := range map[reflect.Type]int{
		reflect.TypeFor[Record]():    15,
		reflect.TypeFor[ErrorInfo](): 4,
		reflect.TypeFor[Intent]():    2,
	} {
		if got := typ.NumField(); got != want {
			t.Errorf("%s has %d fields, the codec knows %d: update codec.go, diskRecord and assertRecord", typ, got, want)
		}
	}
}

// assertRecord compares every field of two records: secrets by value, times
// by instant.
func assertRecord(t *testing.T, got, want Record) {
	t.Helper()
	str := func(field, g, w string) {
		if g != w {
			t.Errorf("%s = %q, want %q", field, g, w)
		}
	}
	tm := func(field string, g, w time.Time) {
		if !g.Equal(w) || g.IsZero() != w.IsZero() {
			t.Errorf("%s = %v, want %v", field, g, w)
		}
	}
	str("Credential", got.Credential, want.Credential)
	str("RefreshToken", got.RefreshToken.Reveal(), want.RefreshToken.Reveal())
	str("AccessToken", got.AccessToken.Reveal(), want.AccessToken.Reveal())
	str("TokenType", got.TokenType, want.TokenType)
	str("Scope", got.Scope, want.Scope)
	tm("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	tm("IssuedAt", got.IssuedAt, want.IssuedAt)
	if got.Generation != want.Generation {
		t.Errorf("Generation = %d, want %d", got.Generation, want.Generation)
	}
	tm("LastSuccess", got.LastSuccess, want.LastSuccess)
	str("Status", string(got.Status), string(want.Status))
	switch g, w := got.LastError, want.LastError; {
	case (g == nil) != (w == nil):
		t.Errorf("LastError = %v, want %v", g, w)
	case g != nil:
		str("LastError.Class", g.Class, w.Class)
		str("LastError.Code", g.Code, w.Code)
		str("LastError.Description", g.Description, w.Description)
		tm("LastError.At", g.At, w.At)
	}
	switch g, w := got.Intent, want.Intent; {
	case (g == nil) != (w == nil):
		t.Errorf("Intent = %v, want %v", g, w)
	case g != nil:
		if g.Generation != w.Generation {
			t.Errorf("Intent.Generation = %d, want %d", g.Generation, w.Generation)
		}
		tm("Intent.StartedAt", g.StartedAt, w.StartedAt)
	}
	tm("RefreshTokenExpiresAt", got.RefreshTokenExpiresAt, want.RefreshTokenExpiresAt)
	tm("RefreshTokenIssuedAt", got.RefreshTokenIssuedAt, want.RefreshTokenIssuedAt)
	if len(got.Extra) != len(want.Extra) {
		t.Errorf("Extra has %d fields, want %d", len(got.Extra), len(want.Extra))
	}
	for k, w := range want.Extra {
		str("Extra."+k, got.Extra[k].Reveal(), w.Reveal())
	}
}

// openTemp opens a store in a fresh temporary directory and closes it at the
// end of the test.
func openTemp(t testing.TB, opts Options) *FileStore {
	t.Helper()
	s, err := Open(t.TempDir(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
