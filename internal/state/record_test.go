package state

import (
	"reflect"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/secret"
)

var (
	tBase  = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tSent  = tBase.Add(time.Minute)
	tNow   = tBase.Add(time.Minute + 300*time.Millisecond)
	tIssue = tBase.Add(time.Minute + 100*time.Millisecond)
)

// stored is the record a credential has after some refreshes, mid-failure.
func stored() Record {
	return Record{Credential: "app", RefreshToken: secret.New("rt-old"), AccessToken: secret.New("at-old"), TokenType: "Bearer",
		Scope: "old", ExpiresAt: tBase, IssuedAt: tBase.Add(-time.Hour), Generation: 7, LastSuccess: tBase.Add(-time.Hour),
		LastError: &ErrorInfo{Class: "transient", Code: "network", At: tBase}, Status: StatusBackoff,
		Intent: &Intent{Generation: 7, StartedAt: tBase}}
}

// edit returns stored() changed by fn.
func edit(fn func(r *Record)) Record {
	r := stored()
	fn(&r)
	return r
}

func TestRecordRefreshed(t *testing.T) {
	tests := []struct {
		name string
		tok  Tokens
		want Record
	}{
		{"rotated", Tokens{RefreshToken: secret.New("rt-new"), AccessToken: secret.New("at-new"), TokenType: "Bearer", Scope: "s",
			ExpiresAt: tIssue.Add(time.Hour), IssuedAt: tIssue},
			edit(func(r *Record) {
				r.RefreshToken, r.AccessToken, r.Scope, r.ExpiresAt, r.IssuedAt = secret.New("rt-new"), secret.New("at-new"), "s", tIssue.Add(time.Hour), tIssue
				r.Generation, r.LastSuccess, r.LastError, r.Status, r.Intent = 8, tNow, nil, StatusOK, nil
			})},
		{"no refresh token returned keeps the old one", Tokens{AccessToken: secret.New("at-new"), TokenType: "mac", IssuedAt: tIssue},
			edit(func(r *Record) {
				r.AccessToken, r.TokenType, r.Scope, r.ExpiresAt, r.IssuedAt = secret.New("at-new"), "mac", "", time.Time{}, tIssue
				r.Generation, r.LastSuccess, r.LastError, r.Status, r.Intent = 8, tNow, nil, StatusOK, nil
			})},
		{"no issued-at falls back to the request's start", Tokens{AccessToken: secret.New("at-new"), ExpiresAt: tSent.Add(time.Hour)},
			edit(func(r *Record) {
				r.AccessToken, r.TokenType, r.Scope, r.ExpiresAt, r.IssuedAt = secret.New("at-new"), "", "", tSent.Add(time.Hour), tSent
				r.Generation, r.LastSuccess, r.LastError, r.Status, r.Intent = 8, tNow, nil, StatusOK, nil
			})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := stored()
			got := before.Refreshed(tt.tok, tSent, tNow)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if !reflect.DeepEqual(before, stored()) {
				t.Error("Refreshed changed its receiver's pointed-to values")
			}
		})
	}
}

func TestRecordImported(t *testing.T) {
	tests := []struct {
		name string
		prev Record
		tok  Tokens
		want Record
	}{
		{"full token over a broken record", stored(),
			Tokens{RefreshToken: secret.New("rt-imp"), AccessToken: secret.New("at-imp"), TokenType: "Bearer", Scope: "s",
				ExpiresAt: tIssue.Add(time.Hour), IssuedAt: tIssue},
			edit(func(r *Record) {
				r.RefreshToken, r.AccessToken, r.Scope, r.ExpiresAt, r.IssuedAt = secret.New("rt-imp"), secret.New("at-imp"), "s", tIssue.Add(time.Hour), tIssue
				r.Generation, r.LastSuccess, r.LastError, r.Status, r.Intent = 8, tNow, nil, StatusOK, nil
			})},
		{"refresh token only: pending, access token dropped", stored(), Tokens{RefreshToken: secret.New("rt-imp")},
			edit(func(r *Record) {
				r.RefreshToken, r.AccessToken, r.TokenType, r.Scope, r.ExpiresAt, r.IssuedAt = secret.New("rt-imp"), secret.Secret{}, "", "", time.Time{}, tNow
				r.Generation, r.LastError, r.Status, r.Intent = 8, nil, StatusPending, nil
			})},
		{"access token only keeps the refresh token", stored(), Tokens{AccessToken: secret.New("at-imp"), IssuedAt: tIssue},
			edit(func(r *Record) {
				r.AccessToken, r.TokenType, r.Scope, r.ExpiresAt, r.IssuedAt = secret.New("at-imp"), "", "", time.Time{}, tIssue
				r.Generation, r.LastSuccess, r.LastError, r.Status, r.Intent = 8, tNow, nil, StatusOK, nil
			})},
		{"first record", Record{}, Tokens{RefreshToken: secret.New("rt-imp")},
			Record{Credential: "app", RefreshToken: secret.New("rt-imp"), IssuedAt: tNow, Generation: 1, Status: StatusPending}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.prev.Imported("app", tt.tok, tNow); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestRecordIntentAndFailure(t *testing.T) {
	ok := edit(func(r *Record) { r.Status, r.Intent, r.LastError = StatusOK, nil, nil })
	if got, want := ok.WithIntent(tSent), edit(func(r *Record) {
		r.Status, r.Intent, r.LastError = StatusRefreshing, &Intent{Generation: 7, StartedAt: tSent}, nil
	}); !reflect.DeepEqual(got, want) {
		t.Errorf("WithIntent = %+v", got)
	}
	info := &ErrorInfo{Class: "permanent", Code: "invalid_grant", At: tNow}
	tests := []struct {
		name                string
		permanent, answered bool
		wantStatus          Status
		wantIntent          bool
	}{
		{"transient, no answer: outcome unknown", false, false, StatusBackoff, true},
		{"transient answer", false, true, StatusBackoff, false},
		{"permanent answer", true, true, StatusNeedsReauth, false},
		{"permanent without an answer", true, false, StatusNeedsReauth, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ok.WithIntent(tSent).Failed(info, tt.permanent, tt.answered)
			if got.Status != tt.wantStatus || (got.Intent != nil) != tt.wantIntent || got.LastError != info ||
				got.Generation != 7 || got.RefreshToken.Reveal() != "rt-old" || got.AccessToken.Reveal() != "at-old" {
				t.Errorf("Failed = %+v", got)
			}
		})
	}
}
