package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/tokend/tokend/internal/state"
	"github.com/tokend/tokend/internal/syncbuf"
	"github.com/tokend/tokend/internal/testkit"
)

// echoOn reports whether the terminal echoes input.
func echoOn(t *testing.T, tty *os.File) bool {
	var tio syscall.Termios
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, tty.Fd(), syscall.TCGETS, uintptr(unsafe.Pointer(&tio))); e != 0 {
		t.Fatalf("tcgetattr: %v", e)
	}
	return tio.Lflag&syscall.ECHO != 0
}

// TestImportFromTerminalDoesNotEcho: `tokend import` reading a pasted
// refresh token from a terminal turns echo off, so the token never appears
// on the screen, and stores it.
func TestImportFromTerminalDoesNotEcho(t *testing.T) {
	bin := buildBinary(t)
	su := apicbaseSetup(t, "")
	rt := su.p.IssueRefreshToken("apic", "accounts library")
	master, tty := testkit.OpenPTY(t)
	screen := &syncbuf.Buffer{} // what the terminal shows
	shown := make(chan struct{})
	go func() { // ends when the terminal side is closed (EIO)
		defer close(shown)
		_, _ = io.Copy(screen, master)
	}()
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, "import", "apicbase", "--config", su.cfgPath)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	testkit.WaitUntil(t, "tokend import to turn the terminal's echo off", 10*time.Second, func() bool { return !echoOn(t, tty) })
	if _, err := master.Write([]byte(rt + "\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("import: %v\n%s", err, errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("import did not finish\n%s", errb.String())
	}
	if !echoOn(t, tty) {
		t.Error("the terminal's echo was not restored")
	}
	tty.Close() // the child has exited: the master now reads what was shown, then EIO
	select {
	case <-shown:
	case <-time.After(5 * time.Second):
		t.Fatal("the terminal's output did not end")
	}
	if strings.Contains(screen.String(), rt) || strings.Contains(errb.String(), rt) || strings.Contains(out.String(), rt) {
		t.Fatalf("the pasted token was shown: screen %q", screen.String())
	}
	if !strings.Contains(errb.String(), "it is not shown") {
		t.Errorf("no prompt: %q", errb.String())
	}
	rec, _ := loadRecord(t, su.stateDir)
	if rec.RefreshToken.Reveal() != rt || rec.Status != state.StatusPending {
		t.Fatalf("record after import %+v", rec)
	}
}
