// Package faulttest holds tokend's provider fault matrix, disk-fault,
// secret-hygiene and state-encryption tests: the real scheduler, grants
// client, state store, sinks and daemon are driven against misbehaving token
// endpoints on 127.0.0.1 and failing storage. Each fault case checks that
// tokend neither crashes nor loops, keeps the last good access token in its
// sinks, and logs the credential by name with the class of the error; the
// hygiene test scans every output for every secret. See docs/reliability.md.
package faulttest
