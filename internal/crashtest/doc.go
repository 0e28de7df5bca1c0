// Package crashtest holds tokend's crash-kill test: the real tokend binary is
// run against a strict rotating provider and killed with SIGKILL at random
// moments, including between "the provider rotated" and "the new refresh
// token is on disk", then restarted, many times over. The test then proves,
// from the provider's own ledger and the state store, that no refresh token
// was lost outside that unavoidable window, that no rotated refresh token was
// presented again except the single documented retry after such a window, and
// that every loss in the window was reported by name on restart.
//
// Short mode runs in the default test run; the long mode and its figures are
// described in docs/reliability.md:
//
//	go test ./internal/crashtest -run TestCrashKill -v -rotations 500
package crashtest
