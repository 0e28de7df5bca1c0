package file

import (
	"bytes"
	"io/fs"
	"syscall"
)

// holds reports whether the path is already a regular file with exactly
// data and the sink's mode. Only the first Write of a Sink asks: at start-up
// (and after a reload) every sink is written again from the state store, and
// a file that already holds the token needs no new temp file, fsyncs and
// rename (one per credential at each restart). Its content was made
// durable by the write that put it there.
//
// It opens the path once, without following a symlink and without blocking
// on a FIFO, and checks that descriptor (fstat, one read into a buffer of
// the expected size): four system calls and one allocation, where an lstat
// then os.ReadFile made seven (the os.File's poller registration among
// them) and allocated at least 512 bytes, at every start-up for every sink
// (docs/performance.md, "Start-up at scale"). Any error means no.
func (s *Sink) holds(data []byte) bool {
	fd, err := syscall.Open(s.path, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return false // missing, a symlink (ELOOP), unreadable
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if syscall.Fstat(fd, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG ||
		fs.FileMode(st.Mode)&fs.ModePerm != s.mode || st.Size != int64(len(data)) {
		return false
	}
	buf := make([]byte, len(data)+1) // one more: a file that grew since fstat reads longer
	n := 0
	for n < len(buf) {
		m, err := syscall.Read(fd, buf[n:])
		if err != nil {
			return false
		}
		if m == 0 {
			break
		}
		n += m
	}
	return bytes.Equal(buf[:n], data)
}
