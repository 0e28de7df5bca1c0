package bootstrap

import (
	"encoding/json"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// TestReadHiddenLineAndJSON: a refresh token is one line; a token JSON
// spread over lines is read until it is complete.
func TestReadHiddenLineAndJSON(t *testing.T) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminals here: %v", err)
	}
	defer m.Close()
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatalf("unlockpt: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatalf("ptsname: %v", e)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	read := func(input string) string {
		t.Helper()
		got := make(chan string, 1)
		go func() {
			b, err := ReadHidden(int(tty.Fd()), 64<<10)
			if err != nil {
				got <- "error: " + err.Error()
				return
			}
			got <- string(b)
		}()
		if _, err := m.Write([]byte(input)); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-got:
			return s
		case <-time.After(10 * time.Second):
			t.Fatalf("ReadHidden did not return for %q", input)
			return ""
		}
	}
	if got := read("rt-one-line\n"); got != "rt-one-line\n" {
		t.Fatalf("one line: %q", got)
	}
	got := read("\n{\n  \"refresh_token\": \"rt\",\n  \"expires_in\": 3600\n}\n")
	var v map[string]any
	if err := json.Unmarshal([]byte(got), &v); err != nil || v["refresh_token"] != "rt" {
		t.Fatalf("JSON over lines: %q %v", got, err)
	}
}
