// Package storetest runs the real tokend binary against damaged state
// stores (issue 16): a corrupt or truncated tokend.db, an empty or missing
// one in a directory that had a store, a store restored from an older
// backup, and a state directory deleted while the daemon runs. Each test
// checks what the provider saw: no refresh token is spent on a damaged
// store and none is presented twice.
//
//	go test ./internal/storetest -v
package storetest
