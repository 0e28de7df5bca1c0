// Package peertest runs tokend against real OAuth server implementations in
// process, as second opinions next to internal/fakeprovider: today
// github.com/ory/fosite with its memory store, which rotates refresh tokens
// and revokes the whole family when a used one is presented again. The
// package has only tests; it lives in the interop module so that fosite and
// what it pulls in stay out of tokend's go.mod.
package peertest
