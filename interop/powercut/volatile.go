package powercut

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// dirEntry is one durable directory entry.
type dirEntry struct {
	ino  uint64
	dir  bool
	mode fs.FileMode
}

// content is a file's durable data.
type content struct {
	data []byte
	mode fs.FileMode
}

// Counts are what a VolatileFS saw since it was created.
type Counts struct {
	FileSyncs, DirSyncs int // fsync/fdatasync of files; fsync of directories
	Cuts                int
	NeverSynced         int            // files whose entry was durable at a cut but not their data (restored empty)
	DroppedEntries      int            // live entries (files, directories) that a cut dropped
	RevertedFiles       int            // files whose live content a cut replaced by older durable content
	EmptyNames          map[string]int // NeverSynced by path
}

// VolatileFS is a loopback FUSE mount whose durable image changes only on
// fsync (see the package doc). Use NewVolatileFS, PowerCut, Close.
type VolatileFS struct {
	base, mnt string

	mu     sync.Mutex
	gen    int
	tree   string // backing directory of the current mount
	grave  string // unlinked inodes of this mount, kept alive
	nGrave int
	server *fuse.Server
	data   map[uint64]content             // backing inode -> content at its last fsync
	dirs   map[string]map[string]dirEntry // directory (relative path) -> entries at its last fsync
	counts Counts
	lies   func(rel string) bool // fsyncs of these files do not reach the image
	full   func(rel string) bool // writes and fsyncs of these files fail with ENOSPC (enospc.go)
}

// LieAboutFsync makes fsync of the files for which match is true succeed
// without making anything durable (a disk that acknowledges flushes it does
// not do); nil restores honest fsyncs. For the negative control only.
func (v *VolatileFS) LieAboutFsync(match func(rel string) bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.lies = match
}

// NewVolatileFS returns an empty volatile file system for mnt, not mounted
// yet; base is a directory for its backing trees (not under mnt).
func NewVolatileFS(base, mnt string) (*VolatileFS, error) {
	v := &VolatileFS{base: base, mnt: mnt}
	tree, grave, err := v.newGen()
	if err != nil {
		return nil, err
	}
	v.tree, v.grave = tree, grave
	return v, nil
}

// Mount takes the backing directory as it is now as durable and mounts it.
// Between PowerCut and Mount the backing directory may be read and changed
// directly (as a machine's disk between a cut and the next boot).
func (v *VolatileFS) Mount() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.server != nil {
		return errors.New("volatile file system already mounted")
	}
	return v.mount(v.tree, v.grave)
}

// Counts returns the counters so far.
func (v *VolatileFS) Counts() Counts {
	v.mu.Lock()
	defer v.mu.Unlock()
	c := v.counts
	c.EmptyNames = map[string]int{}
	for k, n := range v.counts.EmptyNames {
		c.EmptyNames[k] = n
	}
	return c
}

// Backing returns the backing directory: after PowerCut it holds exactly
// the durable image.
func (v *VolatileFS) Backing() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.tree
}

func (v *VolatileFS) newGen() (tree, grave string, err error) {
	v.gen++
	g := filepath.Join(v.base, fmt.Sprintf("gen%03d", v.gen))
	tree, grave = filepath.Join(g, "tree"), filepath.Join(g, "grave")
	for _, d := range []string{tree, grave} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", "", fmt.Errorf("creating backing directory: %w", err)
		}
	}
	return tree, grave, nil
}

// mount snapshots tree as wholly durable and mounts it on v.mnt.
func (v *VolatileFS) mount(tree, grave string) error {
	v.tree, v.grave, v.nGrave = tree, grave, 0
	v.data = map[uint64]content{}
	v.dirs = map[string]map[string]dirEntry{}
	if err := v.snapshot(""); err != nil {
		return err
	}
	var st syscall.Stat_t
	if err := syscall.Stat(tree, &st); err != nil {
		return fmt.Errorf("stat %s: %w", tree, err)
	}
	root := &gofs.LoopbackRoot{Path: tree, Dev: uint64(st.Dev)}
	root.NewNode = func(r *gofs.LoopbackRoot, _ *gofs.Inode, _ string, _ *syscall.Stat_t) gofs.InodeEmbedder {
		return &node{LoopbackNode: gofs.LoopbackNode{RootData: r}, v: v}
	}
	rootNode := root.NewNode(root, nil, "", &st)
	root.RootNode = rootNode
	zero := time.Duration(0)
	srv, err := gofs.Mount(v.mnt, rootNode, &gofs.Options{
		MountOptions: fuse.MountOptions{DirectMount: true, FsName: "tokend-volatile", Name: "volatile"},
		EntryTimeout: &zero, AttrTimeout: &zero, NegativeTimeout: &zero,
	})
	if err != nil {
		return fmt.Errorf("mounting %s (needs root and /dev/fuse): %w", v.mnt, err)
	}
	v.server = srv
	return nil
}

// snapshot records directory rel of the backing tree and everything under
// it as durable.
func (v *VolatileFS) snapshot(rel string) error {
	ents, err := os.ReadDir(filepath.Join(v.tree, rel))
	if err != nil {
		return fmt.Errorf("reading backing directory: %w", err)
	}
	m := map[string]dirEntry{}
	for _, de := range ents {
		p := filepath.Join(v.tree, rel, de.Name())
		fi, err := os.Lstat(p)
		if err != nil {
			return fmt.Errorf("stat backing file: %w", err)
		}
		ino := fi.Sys().(*syscall.Stat_t).Ino
		m[de.Name()] = dirEntry{ino: ino, dir: fi.IsDir(), mode: fi.Mode().Perm()}
		if fi.IsDir() {
			if err := v.snapshot(filepath.Join(rel, de.Name())); err != nil {
				return err
			}
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("reading backing file: %w", err)
		}
		v.data[ino] = content{data: b, mode: fi.Mode().Perm()}
	}
	v.dirs[rel] = m
	return nil
}

// fileSynced makes the current content of file rel durable.
func (v *VolatileFS) fileSynced(rel string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.lies != nil && v.lies(rel) {
		return
	}
	p := filepath.Join(v.tree, rel)
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return // unlinked while open: no name a cut could keep
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return
	}
	v.data[fi.Sys().(*syscall.Stat_t).Ino] = content{data: b, mode: fi.Mode().Perm()}
	v.counts.FileSyncs++
}

// dirSynced makes the current entries of directory rel durable.
func (v *VolatileFS) dirSynced(rel string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	ents, err := os.ReadDir(filepath.Join(v.tree, rel))
	if err != nil {
		return
	}
	m := map[string]dirEntry{}
	for _, de := range ents {
		fi, err := os.Lstat(filepath.Join(v.tree, rel, de.Name()))
		if err != nil {
			continue
		}
		m[de.Name()] = dirEntry{ino: fi.Sys().(*syscall.Stat_t).Ino, dir: fi.IsDir(), mode: fi.Mode().Perm()}
	}
	v.dirs[rel] = m
	v.counts.DirSyncs++
}

// bury hard-links the backing file at path rel into the graveyard, so its
// inode outlives an unlink or a rename over it until the next cut.
func (v *VolatileFS) bury(rel string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	p := filepath.Join(v.tree, rel)
	if fi, err := os.Lstat(p); err != nil || fi.IsDir() {
		return
	}
	v.nGrave++
	_ = os.Link(p, filepath.Join(v.grave, fmt.Sprint(v.nGrave)))
}

// PowerCut unmounts (the caller has killed every process using the mount)
// and writes the durable image into a fresh backing directory; Mount
// mounts it again.
func (v *VolatileFS) PowerCut() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.unmount(); err != nil {
		return err
	}
	v.counts.Cuts++
	live := v.tree
	tree, grave, err := v.newGen()
	if err != nil {
		return err
	}
	if err := v.writeImage(tree, live, ""); err != nil {
		return err
	}
	v.tree, v.grave = tree, grave
	if err := os.RemoveAll(filepath.Dir(live)); err != nil {
		return fmt.Errorf("removing the old backing tree: %w", err)
	}
	return nil
}

// writeImage writes durable directory rel into dst, counting what the live
// tree had that the image does not.
func (v *VolatileFS) writeImage(dst, live, rel string) error {
	m := v.dirs[rel]
	if ents, err := os.ReadDir(filepath.Join(live, rel)); err == nil {
		for _, de := range ents {
			if _, ok := m[de.Name()]; !ok {
				v.counts.DroppedEntries++
			}
		}
	}
	for name, e := range m {
		p := filepath.Join(dst, rel, name)
		if e.dir {
			if err := os.Mkdir(p, e.mode|0o700); err != nil {
				return fmt.Errorf("writing image: %w", err)
			}
			if err := v.writeImage(dst, live, filepath.Join(rel, name)); err != nil {
				return err
			}
			continue
		}
		c, ok := v.data[e.ino]
		if !ok {
			v.counts.NeverSynced++
			if v.counts.EmptyNames == nil {
				v.counts.EmptyNames = map[string]int{}
			}
			v.counts.EmptyNames[filepath.Join(rel, name)]++
			c = content{mode: e.mode}
		}
		if b, err := os.ReadFile(filepath.Join(live, rel, name)); err == nil && !bytes.Equal(b, c.data) {
			v.counts.RevertedFiles++
		}
		if err := os.WriteFile(p, c.data, c.mode); err != nil {
			return fmt.Errorf("writing image: %w", err)
		}
	}
	return nil
}

func (v *VolatileFS) unmount() error {
	if v.server == nil {
		return nil
	}
	var err error
	for range 50 {
		if err = v.server.Unmount(); err == nil {
			v.server.Wait()
			v.server = nil
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	if derr := syscall.Unmount(v.mnt, syscall.MNT_DETACH); derr != nil {
		return fmt.Errorf("unmounting %s: %w", v.mnt, errors.Join(err, derr))
	}
	v.server = nil
	return nil
}

// Close unmounts without a power cut.
func (v *VolatileFS) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.unmount()
}

// node is a loopback node that reports fsyncs and keeps replaced inodes.
type node struct {
	gofs.LoopbackNode
	v *VolatileFS
}

func (n *node) rel(name string) string {
	return filepath.Join(n.Path(nil), name)
}

var (
	_ gofs.NodeFsyncer        = (*node)(nil)
	_ gofs.NodeOpendirHandler = (*node)(nil)
	_ gofs.NodeUnlinker       = (*node)(nil)
	_ gofs.NodeRenamer        = (*node)(nil)
)

// Fsync syncs the backing file and makes its content durable.
func (n *node) Fsync(ctx context.Context, f gofs.FileHandle, flags uint32) syscall.Errno {
	if n.v.isFull(n.Path(nil)) {
		return syscall.ENOSPC
	}
	if fs, ok := f.(gofs.FileFsyncer); ok {
		if errno := fs.Fsync(ctx, flags); errno != 0 {
			return errno
		}
	}
	n.v.fileSynced(n.Path(nil))
	return 0
}

// OpendirHandle wraps the loopback directory stream to see its fsyncs.
func (n *node) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	fh, fl, errno := n.LoopbackNode.OpendirHandle(ctx, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	return &dirHandle{inner: fh, v: n.v, rel: n.Path(nil)}, fl, 0
}

// Unlink keeps the inode alive, then unlinks.
func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	n.v.bury(n.rel(name))
	return n.LoopbackNode.Unlink(ctx, name)
}

// Rename keeps the inode it replaces alive, then renames.
func (n *node) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	n.v.bury(filepath.Join(newParent.EmbeddedInode().Path(nil), newName))
	return n.LoopbackNode.Rename(ctx, name, newParent, newName, flags)
}

// dirHandle is a directory stream whose fsync makes the entries durable.
type dirHandle struct {
	inner gofs.FileHandle
	v     *VolatileFS
	rel   string
}

var (
	_ gofs.FileReaddirenter = (*dirHandle)(nil)
	_ gofs.FileSeekdirer    = (*dirHandle)(nil)
	_ gofs.FileReleasedirer = (*dirHandle)(nil)
	_ gofs.FileFsyncdirer   = (*dirHandle)(nil)
)

func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	return d.inner.(gofs.FileReaddirenter).Readdirent(ctx)
}

func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	return d.inner.(gofs.FileSeekdirer).Seekdir(ctx, off)
}

func (d *dirHandle) Releasedir(ctx context.Context, flags uint32) {
	d.inner.(gofs.FileReleasedirer).Releasedir(ctx, flags)
}

// Fsyncdir syncs the backing directory and makes its entries durable.
func (d *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	if errno := d.inner.(gofs.FileFsyncdirer).Fsyncdir(ctx, flags); errno != 0 {
		return errno
	}
	d.v.dirSynced(d.rel)
	return 0
}
