package status

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/scheduler"
	"github.com/tokend/tokend/internal/state"
)

// TestAwaitRefresh: AwaitRefresh returns when the generation moves on with
// status ok, when an error newer than the request is recorded (not while a
// refresh is in flight, not for an older error), when wait passes, and at
// once when the daemon does not know the credential.
func TestAwaitRefresh(t *testing.T) {
	ctx := context.Background()
	requested := testNow
	for _, tc := range []struct {
		name  string
		polls []func(st *scheduler.CredentialStatus) // applied to "app" one per poll, cumulatively
		wait  time.Duration
		want  error
		gen   uint64
	}{
		{"refreshed on the third poll", []func(*scheduler.CredentialStatus){
			func(st *scheduler.CredentialStatus) { st.Status = state.StatusRefreshing },
			func(st *scheduler.CredentialStatus) {
				st.LastError = &state.ErrorInfo{Class: "transient", Code: "network", At: requested} // in flight: not the outcome
			},
			func(st *scheduler.CredentialStatus) { st.Status, st.Generation, st.LastError = state.StatusOK, 4, nil },
		}, 10 * time.Second, nil, 4},
		{"needs re-authorization", []func(*scheduler.CredentialStatus){
			func(st *scheduler.CredentialStatus) {
				st.Status = state.StatusNeedsReauth
				st.LastError = &state.ErrorInfo{Class: "permanent", Code: "invalid_grant", At: requested.Add(-500 * time.Millisecond)}
			},
		}, 10 * time.Second, ErrRefreshFailed, 3},
		{"an older error is not the outcome", []func(*scheduler.CredentialStatus){
			func(st *scheduler.CredentialStatus) {
				st.Status = state.StatusBackoff
				st.LastError = &state.ErrorInfo{Class: "transient", Code: "network", At: requested.Add(-time.Hour)}
			},
		}, 100 * time.Millisecond, ErrRefreshPending, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := healthyBackend()
			applied := 0 // each poll applies the next change on top of the previous ones
			b.onSnapshot = func(b *fakeBackend) {
				if applied < len(tc.polls) {
					tc.polls[applied](&b.sts[0])
					applied++
				}
			}
			ts := startServer(t, "127.0.0.1:0", b)
			ts.client.poll = time.Millisecond
			before := scheduler.CredentialStatus{Name: "app", Status: state.StatusOK, Generation: 3}
			st, err := ts.client.AwaitRefresh(ctx, before, requested, tc.wait)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) || st.Generation != tc.gen || st.Name != "app" {
				t.Fatalf("got %+v, %v; want generation %d, %v", st, err, tc.gen, tc.want)
			}
		})
	}
	ts := startServer(t, "127.0.0.1:0", healthyBackend())
	ts.client.poll = time.Millisecond
	if _, err := ts.client.AwaitRefresh(ctx, scheduler.CredentialStatus{Name: "nope"}, requested, time.Second); !IsNotFound(err) {
		t.Errorf("unknown credential: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := ts.client.AwaitRefresh(cancelled, scheduler.CredentialStatus{Name: "app"}, requested, time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
