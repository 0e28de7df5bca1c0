package sdnotify

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/testkit"
)

// Listen opens a unixgram socket, points NOTIFY_SOCKET at it and returns a
// function that reads the next message (failing after a short wait).
// Tests that use it must not run in parallel (they set the environment).
func Listen(t *testing.T) func() string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sdn") // short: socket paths are limited to 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return func() string {
		t.Helper()
		buf := make([]byte, 4096)
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no sd_notify message: %v", err)
		}
		return string(buf[:n])
	}
}

func TestMessages(t *testing.T) {
	next := Listen(t)
	t.Setenv("WATCHDOG_USEC", strconv.Itoa(int((10 * time.Second).Microseconds())))
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	clk := testkit.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	n := New(nil, clk.Now)
	if !n.Enabled() || n.WatchdogInterval() != 10*time.Second {
		t.Fatalf("watchdog interval %s", n.WatchdogInterval())
	}

	n.Ready("2 credentials: 2 ok, 0 backoff, 0 needs_reauth")
	if m := next(); m != "READY=1\nSTATUS=2 credentials: 2 ok, 0 backoff, 0 needs_reauth" {
		t.Fatalf("ready: %q", m)
	}
	// The same status line is not sent twice; a new one is.
	n.Status("2 credentials: 2 ok, 0 backoff, 0 needs_reauth")
	n.Status("2 credentials: 1 ok, 1 backoff, 0 needs_reauth")
	if m := next(); m != "STATUS=2 credentials: 1 ok, 1 backoff, 0 needs_reauth" {
		t.Fatalf("status: %q", m)
	}

	// Watchdog pings are rate-limited to half the interval.
	n.Watchdog()
	if m := next(); m != "WATCHDOG=1" {
		t.Fatalf("first ping: %q", m)
	}
	clk.Add(4 * time.Second)
	n.Watchdog() // too soon: nothing sent
	clk.Add(time.Second)
	n.Watchdog()
	if m := next(); m != "WATCHDOG=1" {
		t.Fatalf("second ping: %q", m)
	}

	n.Reloading()
	m := next()
	if !strings.HasPrefix(m, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Fatalf("reloading: %q", m)
	}
	usec, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(m, "RELOADING=1\nMONOTONIC_USEC=")), 10, 64)
	if err != nil || usec <= 0 {
		t.Fatalf("MONOTONIC_USEC in %q: %v", m, err)
	}
	n.Stopping()
	if m := next(); m != "STOPPING=1\nSTATUS=stopping" {
		t.Fatalf("stopping: %q", m)
	}
}

func TestWatchdogForAnotherProcessIsIgnored(t *testing.T) {
	next := Listen(t)
	t.Setenv("WATCHDOG_USEC", "10000000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()+1))
	n := New(nil, nil)
	if n.WatchdogInterval() != 0 {
		t.Fatal("watchdog meant for another PID enabled")
	}
	n.Watchdog()
	n.Status("x") // the next message is this one, not a ping
	if m := next(); m != "STATUS=x" {
		t.Fatalf("got %q", m)
	}
}

func TestNoSocketIsANoOp(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "")
	n := New(nil, nil)
	n.Ready("x")
	n.Watchdog()
	n.Stopping()
	if n.WatchdogInterval() != 0 || n.Enabled() {
		t.Fatal("watchdog or notifications on without NOTIFY_SOCKET / WATCHDOG_USEC")
	}
}
