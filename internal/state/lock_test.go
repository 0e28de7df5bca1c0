package state

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Environment variables that turn the test binary into a helper process for
// the cross-process lock tests (see TestMain).
const (
	helperModeEnv = "TOKEND_STATE_TEST_HELPER" // "hold" or "try"
	helperDirEnv  = "TOKEND_STATE_TEST_DIR"
)

// TestMain lets the lock tests re-exec the test binary as a second process.
func TestMain(m *testing.M) {
	if mode := os.Getenv(helperModeEnv); mode != "" {
		os.Exit(runHelper(mode, os.Getenv(helperDirEnv)))
	}
	os.Exit(m.Run())
}

// runHelper is the body of the helper process.
//   - hold: open the store, print "locked", keep it open until stdin closes.
//   - try: open the store; print the error and exit 3 if it is ErrLocked.
func runHelper(mode, dir string) int {
	s, err := Open(dir, Options{})
	switch mode {
	case "hold":
		if err != nil {
			fmt.Println("open failed:", err)
			return 1
		}
		fmt.Println("locked")
		_, _ = io.Copy(io.Discard, os.Stdin)
		if err := s.Close(); err != nil {
			return 1
		}
		return 0
	case "try":
		if err == nil {
			_ = s.Close()
			fmt.Println("opened")
			return 0
		}
		fmt.Println(err)
		if errors.Is(err, ErrLocked) {
			return 3
		}
		return 1
	}
	return 2
}

func helperCmd(t *testing.T, mode, dir string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperModeEnv+"="+mode, helperDirEnv+"="+dir)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// assertLocked checks err is the clear "in use" error for dir.
func assertLocked(t *testing.T, msg, dir string) {
	t.Helper()
	want := fmt.Sprintf("state directory %q is in use by another tokend (lock on %s): %s",
		dir, filepath.Join(dir, "tokend.db"), ErrLocked)
	if !strings.Contains(msg, want) {
		t.Errorf("error %q does not contain %q", msg, want)
	}
}

func TestLockedInProcess(t *testing.T) {
	dir := t.TempDir()
	first, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	second, err := Open(dir, Options{})
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("second Open took %s, want about the 200ms default lock timeout", elapsed)
	}
	if err == nil {
		_ = second.Close()
		t.Fatal("second Open of a held store succeeded")
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: err = %v, want ErrLocked", err)
	}
	assertLocked(t, err.Error(), dir)

	// Closing releases the lock.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	third, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	if err := third.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestLockedByOtherProcess: a child process holds the store, we fail to open.
func TestLockedByOtherProcess(t *testing.T) {
	dir := t.TempDir()
	cmd := helperCmd(t, "hold", dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stdin.Close(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("helper said %q, %v; want \"locked\"", line, err)
	}

	start := time.Now()
	s, err := Open(dir, Options{LockTimeout: 100 * time.Millisecond})
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("Open took %s with a 100ms lock timeout", elapsed)
	}
	if err == nil {
		_ = s.Close()
		t.Fatal("Open of a store held by another process succeeded")
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("Open: err = %v, want ErrLocked", err)
	}
	assertLocked(t, err.Error(), dir)

	// When the other process exits, the lock is free.
	if err := stdin.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open after the other process exited: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestLockedAgainstOtherProcess: we hold the store, a child fails to open it.
func TestLockedAgainstOtherProcess(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	start := time.Now()
	out, err := helperCmd(t, "try", dir).Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("helper: err = %v, output %q; want exit code 3 (ErrLocked)", err, out)
	}
	// Process start-up is included, so allow more than the lock timeout.
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("helper took %s to give up", elapsed)
	}
	assertLocked(t, string(out), dir)
}
