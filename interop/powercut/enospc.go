package powercut

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
)

// FailWrites makes writes, fsyncs and allocations of the files for which
// match is true fail with ENOSPC, as on a full disk (issue 16, item 4); nil
// frees the space again. Other files and all reads are unaffected.
func (v *VolatileFS) FailWrites(match func(rel string) bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.full = match
}

// isFull reports whether writes to file rel fail with ENOSPC now.
func (v *VolatileFS) isFull(rel string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.full != nil && v.full(rel)
}

var (
	_ gofs.NodeWritever  = (*node)(nil)
	_ gofs.NodeAllocater = (*node)(nil)
)

// Writev fails with ENOSPC on a full file, else writes through the
// loopback file handle.
func (n *node) Writev(ctx context.Context, f gofs.FileHandle, data [][]byte, off int64) (uint32, syscall.Errno) {
	if n.v.isFull(n.Path(nil)) {
		return 0, syscall.ENOSPC
	}
	if fw, ok := f.(gofs.FileWritever); ok {
		return fw.Writev(ctx, data, off)
	}
	fw, ok := f.(gofs.FileWriter)
	if !ok {
		return 0, syscall.ENOTSUP
	}
	if len(data) == 1 {
		return fw.Write(ctx, data[0], off)
	}
	var b []byte
	for _, d := range data {
		b = append(b, d...)
	}
	return fw.Write(ctx, b, off)
}

// Allocate fails with ENOSPC on a full file, else allocates through the
// loopback file handle.
func (n *node) Allocate(ctx context.Context, f gofs.FileHandle, off, size uint64, mode uint32) syscall.Errno {
	if n.v.isFull(n.Path(nil)) {
		return syscall.ENOSPC
	}
	if fa, ok := f.(gofs.FileAllocater); ok {
		return fa.Allocate(ctx, off, size, mode)
	}
	return syscall.ENOTSUP
}
