package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat; it is
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// child is one daemon process and what its log has said so far.
type child struct {
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{} // closed when the process has exited and its log is read
	exitErr error         // valid after done

	mu        sync.Mutex
	refreshed int             // "refreshed" log lines
	lastAt    time.Time       // arrival of the last "refreshed" line
	schedAt   time.Time       // arrival of "scheduler started"
	late      []time.Duration // "late" of refreshes with generation >= minGen
	minGen    uint64
	errors    []string // messages of error-level lines
}

// startChild runs argv with --config cfg and reads its JSON log.
func startChild(argv []string, cfg string, minGen uint64) (*child, error) {
	args := append(append([]string{}, argv[1:]...), "--config", cfg, "--log-level", "info")
	cmd := exec.Command(argv[0], args...)
	cmd.Env = append(os.Environ(), DaemonEnv+"=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, done: make(chan struct{}), minGen: minGen}
	c.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the daemon: %w", err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			c.line(sc.Bytes())
		}
		c.exitErr = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

type logLine struct {
	Level      string `json:"level"`
	Msg        string `json:"msg"`
	Generation uint64 `json:"generation"`
	Late       string `json:"late"`
	Error      string `json:"error"`
}

func (c *child) line(b []byte) {
	now := time.Now()
	if !bytes.Contains(b, []byte(`"refreshed"`)) && !bytes.Contains(b, []byte(`"scheduler started"`)) &&
		!bytes.Contains(b, []byte(`"ERROR"`)) {
		return
	}
	var l logLine
	if json.Unmarshal(b, &l) != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case l.Msg == "refreshed":
		c.refreshed++
		c.lastAt = now
		if d, err := time.ParseDuration(l.Late); err == nil && l.Generation >= c.minGen {
			c.late = append(c.late, d)
		}
	case l.Msg == "scheduler started":
		c.schedAt = now
	case l.Level == "ERROR" && len(c.errors) < 5:
		c.errors = append(c.errors, l.Msg+": "+l.Error)
	}
}

func (c *child) counts() (refreshed int, schedAt, lastAt time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refreshed, c.schedAt, c.lastAt
}

// waitRefreshed waits until n "refreshed" lines have arrived.
func (c *child) waitRefreshed(n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		got, _, _ := c.counts()
		if got >= n {
			return nil
		}
		select {
		case <-c.done:
			return fmt.Errorf("daemon exited (%v) after %d of %d refreshes; errors: %v", c.exitErr, got, n, c.errs())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d refreshes within %s; errors: %v", got, n, timeout, c.errs())
		}
	}
}

func (c *child) errs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.errors...)
}

// waitReady polls the status server's /readyz until it answers 200.
func (c *child) waitReady(addr string, timeout time.Duration) (time.Duration, error) {
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := hc.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(c.started), nil
			}
		}
		select {
		case <-c.done:
			return 0, fmt.Errorf("daemon exited before ready: %v; errors: %v", c.exitErr, c.errs())
		case <-time.After(5 * time.Millisecond):
		}
	}
	return 0, fmt.Errorf("not ready within %s", timeout)
}

// stop sends SIGTERM and waits for a clean exit. Calling it again returns
// the same result.
func (c *child) stop() error {
	select {
	case <-c.done:
		return c.exitErr
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return c.exitErr
	case <-time.After(60 * time.Second):
		_ = c.cmd.Process.Kill()
		return errors.New("daemon did not stop within 60s of SIGTERM")
	}
}

// rss returns the process's resident set size (VmRSS) in bytes.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// cpuTime returns user+system CPU time of the process.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the ")" closing the command name: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// settle waits until the process uses less than 2% of a core over 500 ms
// (start-up sink writes done), at most max.
func settle(pid int, max time.Duration) {
	deadline := time.Now().Add(max)
	prev, _ := cpuTime(pid)
	for time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
		cur, err := cpuTime(pid)
		if err != nil || cur-prev <= 10*time.Millisecond {
			return
		}
		prev = cur
	}
}

// quiesce flushes every dirty page and the filesystem journal (sync(2)) and
// pauses briefly, so a timed phase does not pay for the writeback of the
// phase before it (a burst leaves tens of thousands of files and journal
// entries behind; without this the next phase ran up to 8x slower).
func quiesce() {
	syscall.Sync()
	time.Sleep(time.Second)
}
