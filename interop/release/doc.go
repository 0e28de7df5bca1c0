// Package release holds no code: its test runs scripts/release and inspects
// what it builds — static linux/amd64 and arm64 binaries stamped with the
// version and commit, SHA256SUMS, and the .deb (dpkg-deb -I/-c/-x, then a
// real `dpkg --root` install into a throwaway root whose postinst creates
// the tokend user there).
package release
