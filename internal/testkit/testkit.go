// Package testkit holds the helpers that tests across tokend would otherwise
// write again: WaitUntil, a fake Clock and a tokend.toml builder (Config).
// It is imported only from _test.go files and depends on the standard
// library alone, so the tests of any package (internal or external) can use
// it without an import cycle. The tokend Vault client for tests lives next to
// the Vault server it talks to, in internal/vaulttest.
package testkit

import (
	"testing"
	"time"
)

// pollInterval is how often WaitUntil asks again.
const pollInterval = 10 * time.Millisecond

// WaitUntil polls cond until it returns true and fails the test with
// "timed out waiting for <what>" once timeout has passed. It is for tests
// that watch a real daemon, process or server; timer loops under test use a
// fake Clock or testing/synctest instead. It must be called from the test's
// goroutine (it calls t.Fatalf).
func WaitUntil(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(pollInterval)
	}
}
