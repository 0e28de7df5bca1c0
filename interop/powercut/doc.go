// Package powercut runs tokend with its state store and file sinks on a FUSE
// file system that forgets everything not made durable, cuts the power at
// random moments, and checks that no refresh token is lost outside the
// documented window and that no sink is ever empty or torn (issue 16, item 9).
//
// # The volatile file system (volatile.go)
//
// VolatileFS is a loopback FUSE file system (go-fuse, mounted with mount(2)
// directly, as root) over a backing directory. Every operation goes through
// to the backing directory at once, so reads, pwrite, mmap (bbolt reads its
// file through a shared mapping) and flock behave as on a real disk while
// the machine is up. Beside it VolatileFS keeps the durable image: what a
// disk that honours POSIX fsync and nothing more would hold after a power
// cut. Only two calls change that image:
//
//   - fsync or fdatasync of a file: the file's whole current content (and
//     mode) becomes its durable content;
//   - fsync of a directory: the directory's current entries (creates,
//     renames into and out of it, unlinks) become its durable entries.
//
// Anything else (write, truncate, create, rename, unlink, mkdir) is volatile:
// a power cut drops it. The model is LazyFS's default: after a cut, a file
// has the content of its last fsync (or is empty if it was never fsynced: the
// entry reached the disk, the data did not), and a directory has the entries
// of its last fsync. Files are identified by backing inode; an unlinked or
// replaced inode is kept alive (hard-linked into a graveyard outside the
// tree) until the next cut, so an inode number is never reused while an
// older durable entry may still name it. Not modelled: partial or reordered
// writes inside one fsync interval (a cut keeps all of an interval or none of
// it), metadata other than the mode, renamed directories (a directory is
// identified by its path), hard links, xattrs.
//
// A power cut (PowerCut) is: SIGKILL tokend (the caller), unmount, write the
// durable image into a fresh backing directory, mount that. The image is
// what the next tokend starts from.
package powercut
