package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"strings"
)

// ErrCorrupt marks a state store file that is not a complete, consistent
// bbolt database (truncated, garbled pages, bad meta pages). tokend does not
// start on such a file: bbolt would panic or fault while walking it.
var ErrCorrupt = errors.New("state store file is corrupt")

// The on-disk layout of a bbolt v2 file (go.etcd.io/bbolt internal/common),
// read here with ReadAt and bounds checks instead of through bbolt's mmap, so
// that no byte of a damaged file can crash the process.
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	pageHeaderSize = 16 // id u64, flags u16, count u16, overflow u32
	elemSize       = 16 // branch: pos, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32
	metaSize       = 64 // magic, version, pageSize, flags u32; root, sequence, freelist, pgid, txid, checksum u64
	bucketHdrSize  = 16 // root pgid u64, sequence u64

	flagBranch   = 0x01
	flagLeaf     = 0x02
	flagFreelist = 0x10
	flagBucket   = 0x01 // leaf element: the value is a nested bucket

	noFreelist = ^uint64(0)
	maxDepth   = 64 // nesting of inline buckets; page trees are bounded by the visited set
)

var le = binary.LittleEndian // bbolt writes native order; tokend runs on little-endian machines

// meta is the part of a bbolt meta page the check needs.
type meta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	hwm      uint64 // high-water mark: pages below it are in use or free
	txid     uint64
}

// parseMeta decodes and validates a meta page body (after the page header)
// as bbolt does: magic, version and FNV-64a checksum.
func parseMeta(b []byte) (meta, error) {
	if len(b) < metaSize {
		return meta{}, errors.New("short meta page")
	}
	if le.Uint32(b[0:]) != boltMagic {
		return meta{}, errors.New("bad magic")
	}
	if le.Uint32(b[4:]) != boltVersion {
		return meta{}, fmt.Errorf("unsupported version %d", le.Uint32(b[4:]))
	}
	h := fnv.New64a()
	_, _ = h.Write(b[:56])
	if h.Sum64() != le.Uint64(b[56:]) {
		return meta{}, errors.New("bad checksum")
	}
	return meta{pageSize: le.Uint32(b[8:]), root: le.Uint64(b[16:]), freelist: le.Uint64(b[32:]),
		hwm: le.Uint64(b[40:]), txid: le.Uint64(b[48:])}, nil
}

// checkData verifies that r (size bytes) holds a bbolt database that bbolt
// can open and walk without panicking: a valid meta page (the one bbolt would
// use: the valid one with the higher transaction id), a file long enough for
// every page below the high-water mark, and from the root down every page
// in bounds, of the right type, referenced once, with its elements inside it
// and its keys in order — the checks bbolt's own open-time page walk makes
// (tx_check.go), which panic there. It never panics; the error wraps
// ErrCorrupt and says what is wrong (page numbers, never data).
func checkData(r io.ReaderAt, size int64) error {
	if err := checkFile(r, size); err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return nil
}

func checkFile(r io.ReaderAt, size int64) error {
	m, err := pickMeta(r, size)
	if err != nil {
		return err
	}
	ps := uint64(m.pageSize)
	if m.hwm < 2 || m.hwm > uint64(size)/ps {
		return fmt.Errorf("file is truncated or garbled: %d pages in use but %d bytes hold only %d (page size %d)",
			m.hwm, size, uint64(size)/ps, ps)
	}
	c := &checker{r: r, ps: ps, hwm: m.hwm, seen: map[uint64]bool{0: true, 1: true}}
	if m.root < 2 || m.root >= m.hwm {
		return fmt.Errorf("root page %d out of bounds (high-water mark %d)", m.root, m.hwm)
	}
	if m.freelist != noFreelist {
		if err := c.freelist(m.freelist); err != nil {
			return err
		}
	}
	_, err = c.tree(m.root, nil, nil, 0)
	return err
}

// pickMeta reads both meta pages and returns the one bbolt would use.
func pickMeta(r io.ReaderAt, size int64) (meta, error) {
	var buf [pageHeaderSize + metaSize]byte
	if size < int64(len(buf)) {
		return meta{}, fmt.Errorf("file is %d bytes, shorter than a meta page", size)
	}
	if _, err := r.ReadAt(buf[:], 0); err != nil {
		return meta{}, fmt.Errorf("reading meta page 0: %w", err)
	}
	m0, err0 := parseMeta(buf[pageHeaderSize:])
	ps := uint64(0)
	if err0 == nil {
		ps = uint64(m0.pageSize)
	} else {
		// Page 0 is damaged: find page 1 at each possible page size, as bbolt does.
		for s := int64(1024); s <= 1<<24 && s+int64(len(buf)) <= size; s <<= 1 {
			if _, err := r.ReadAt(buf[:], s); err != nil {
				break
			}
			if m, err := parseMeta(buf[pageHeaderSize:]); err == nil && int64(m.pageSize) == s {
				ps = uint64(s)
				break
			}
		}
	}
	if ps < 1024 || ps > 1<<24 || ps&(ps-1) != 0 {
		return meta{}, fmt.Errorf("no valid meta page (page 0: %v)", err0)
	}
	var m1 meta
	err1 := errors.New("beyond the end of the file")
	if int64(ps)+int64(len(buf)) <= size {
		if _, err := r.ReadAt(buf[:], int64(ps)); err != nil {
			return meta{}, fmt.Errorf("reading meta page 1: %w", err)
		}
		m1, err1 = parseMeta(buf[pageHeaderSize:])
	}
	switch {
	case err0 == nil && err1 == nil:
		if m1.txid > m0.txid {
			m0 = m1
		}
	case err1 == nil:
		m0 = m1
	case err0 != nil:
		return meta{}, fmt.Errorf("both meta pages are invalid (%v; %v)", err0, err1)
	}
	if uint64(m0.pageSize) != ps {
		return meta{}, fmt.Errorf("meta pages disagree on the page size (%d, %d)", ps, m0.pageSize)
	}
	return m0, nil
}

// checker walks the page tree of one file.
type checker struct {
	r    io.ReaderAt
	ps   uint64
	hwm  uint64
	seen map[uint64]bool
}

// page reads page id with its overflow pages, marking them referenced.
func (c *checker) page(id uint64) ([]byte, error) {
	if id < 2 || id >= c.hwm {
		return nil, fmt.Errorf("page %d: out of bounds (high-water mark %d)", id, c.hwm)
	}
	var hdr [pageHeaderSize]byte
	if _, err := c.r.ReadAt(hdr[:], int64(id*c.ps)); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	if got := le.Uint64(hdr[0:]); got != id {
		return nil, fmt.Errorf("page %d: header says page %d", id, got)
	}
	n := uint64(le.Uint32(hdr[12:])) + 1
	if n > c.hwm-id {
		return nil, fmt.Errorf("page %d: %d overflow pages run past the high-water mark %d", id, n-1, c.hwm)
	}
	for i := id; i < id+n; i++ {
		if c.seen[i] {
			return nil, fmt.Errorf("page %d: multiple references", i)
		}
		c.seen[i] = true
	}
	buf := make([]byte, n*c.ps)
	if _, err := c.r.ReadAt(buf, int64(id*c.ps)); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	return buf, nil
}

// freelist checks a synced freelist page (tokend's stores have none).
func (c *checker) freelist(id uint64) error {
	p, err := c.page(id)
	if err != nil {
		return fmt.Errorf("freelist: %w", err)
	}
	if flags := le.Uint16(p[8:]); flags != flagFreelist {
		return fmt.Errorf("freelist page %d: wrong type %#x", id, flags)
	}
	count, start := uint64(le.Uint16(p[10:])), uint64(pageHeaderSize)
	if count == 0xFFFF {
		count, start = le.Uint64(p[pageHeaderSize:]), pageHeaderSize+8
	}
	if count > (uint64(len(p))-start)/8 {
		return fmt.Errorf("freelist page %d: %d ids do not fit", id, count)
	}
	for i := range count {
		if fid := le.Uint64(p[start+8*i:]); fid < 2 || fid >= c.hwm {
			return fmt.Errorf("freelist page %d: free page %d out of bounds", id, fid)
		}
	}
	return nil
}

// tree checks the subtree rooted at page id: every key in it must be >= lo
// (nil: no bound) and < hi (nil: none). It returns the subtree's last key.
func (c *checker) tree(id uint64, lo, hi []byte, depth int) ([]byte, error) {
	p, err := c.page(id)
	if err != nil {
		return nil, err
	}
	return c.node(p, fmt.Sprintf("page %d", id), lo, hi, depth)
}

// node checks one branch or leaf page held in p (a page read from the file,
// or a nested bucket's inline page).
func (c *checker) node(p []byte, where string, lo, hi []byte, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%s: nested too deep", where)
	}
	if len(p) < pageHeaderSize {
		return nil, fmt.Errorf("%s: shorter than a page header", where)
	}
	flags, count := le.Uint16(p[8:]), uint64(le.Uint16(p[10:]))
	if flags != flagBranch && flags != flagLeaf || flags == flagBranch && strings.HasSuffix(where, inlineWhere) {
		return nil, fmt.Errorf("%s: invalid page type %#x", where, flags)
	}
	if pageHeaderSize+count*elemSize > uint64(len(p)) {
		return nil, fmt.Errorf("%s: %d elements do not fit in the page", where, count)
	}
	prev := lo
	for i := range count {
		off := pageHeaderSize + i*elemSize
		e := p[off : off+elemSize]
		pos, ksize := uint64(le.Uint32(e[4:])), uint64(le.Uint32(e[8:]))
		if flags == flagBranch {
			pos, ksize = uint64(le.Uint32(e[0:])), uint64(le.Uint32(e[4:]))
		}
		vsize := uint64(0)
		if flags == flagLeaf {
			vsize = uint64(le.Uint32(e[12:]))
		}
		if off+pos+ksize+vsize > uint64(len(p)) {
			return nil, fmt.Errorf("%s: element %d lies outside the page", where, i)
		}
		key := p[off+pos : off+pos+ksize]
		if i > 0 && bytes.Compare(prev, key) >= 0 || i == 0 && prev != nil && bytes.Compare(prev, key) > 0 {
			return nil, fmt.Errorf("%s: key %d out of order", where, i)
		}
		if hi != nil && bytes.Compare(key, hi) >= 0 {
			return nil, fmt.Errorf("%s: key %d not below its parent's next key", where, i)
		}
		if flags == flagBranch {
			next := hi
			if i+1 < count {
				n := p[off+elemSize : off+2*elemSize]
				npos, nks := uint64(le.Uint32(n[0:])), uint64(le.Uint32(n[4:]))
				if off+elemSize+npos+nks > uint64(len(p)) {
					return nil, fmt.Errorf("%s: element %d lies outside the page", where, i+1)
				}
				next = p[off+elemSize+npos : off+elemSize+npos+nks]
			}
			last, err := c.tree(le.Uint64(e[8:]), key, next, depth)
			if err != nil {
				return nil, err
			}
			prev = last
			continue
		}
		if le.Uint32(e[0:])&flagBucket != 0 {
			if strings.HasSuffix(where, inlineWhere) {
				return nil, fmt.Errorf("%s: an inline bucket holds a nested bucket", where)
			}
			if err := c.bucket(p[off+pos+ksize:off+pos+ksize+vsize], where, depth); err != nil {
				return nil, err
			}
		}
		prev = key
	}
	return prev, nil
}

// bucket checks a nested bucket: its own page tree, or its inline page.
func (c *checker) bucket(v []byte, where string, depth int) error {
	if len(v) < bucketHdrSize {
		return fmt.Errorf("%s: bucket header too short", where)
	}
	if root := le.Uint64(v); root != 0 {
		_, err := c.tree(root, nil, nil, depth+1)
		return err
	}
	_, err := c.node(v[bucketHdrSize:], where+inlineWhere, nil, nil, depth+1)
	return err
}

// inlineWhere marks an inline bucket's page in errors; bbolt inlines only
// leaf buckets without nested buckets (Bucket.inlineable).
const inlineWhere = " (inline bucket)"
