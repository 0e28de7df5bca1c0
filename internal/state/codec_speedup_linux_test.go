//go:build linux

package state

import (
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// BenchmarkRecordCodecSpeedup runs the two codecs in alternating batches on
// one locked OS thread and compares the CPU time that thread spent in each
// (CLOCK_THREAD_CPUTIME_ID): unlike the wall time of the impl= benchmarks,
// it does not count the time spent waiting for a core, so the ratio holds on
// a busy machine. It reports how many times less CPU the new codec takes to
// encode and to decode (reference over new). Garbage collection done by
// other threads is not counted, which favours the reference.
//
//	go test -run '^$' -bench BenchmarkRecordCodecSpeedup ./internal/state/
func BenchmarkRecordCodecSpeedup(b *testing.B) {
	const batch = 64
	for _, r := range benchRecords {
		data, err := jsonCodec{}.encode(r.rec)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(r.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var enc, dec [2]time.Duration // [reference, new]
			for b.Loop() {
				for i, c := range []codec{referenceCodec{}, jsonCodec{}} {
					t0 := threadCPU(b)
					for range batch {
						if _, err := c.encode(r.rec); err != nil {
							b.Fatal(err)
						}
					}
					t1 := threadCPU(b)
					for range batch {
						if _, err := c.decode(r.rec.Credential, data); err != nil {
							b.Fatal(err)
						}
					}
					enc[i] += t1 - t0
					dec[i] += threadCPU(b) - t1
				}
			}
			b.ReportMetric(float64(enc[0])/float64(enc[1]), "encode-speedup")
			b.ReportMetric(float64(dec[0])/float64(dec[1]), "decode-speedup")
		})
	}
}

// threadCPU is the CPU time the calling OS thread has used.
func threadCPU(b *testing.B) time.Duration {
	const clockThreadCPUTimeID = 3 // CLOCK_THREAD_CPUTIME_ID, <linux/time.h>
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		b.Fatalf("clock_gettime: %v", errno)
	}
	return time.Duration(ts.Nano())
}
