// Package sdnotify tells systemd about tokend's life (sd_notify(3)): READY=1
// once the store is open and the sinks are checked, a STATUS= line with
// credential counts, WATCHDOG=1 keep-alives from the scheduler loop,
// RELOADING=1 and STOPPING=1. Outside systemd (no NOTIFY_SOCKET) every call
// is a cheap no-op.
package sdnotify

import (
	"os"
	"sync"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"
)

// Notifier sends sd_notify messages. It is safe for concurrent use; no
// method blocks beyond one datagram send.
type Notifier struct {
	log      *zap.Logger
	now      func() time.Time
	watchdog time.Duration // WatchdogSec; 0 when the watchdog is off
	enabled  bool          // NOTIFY_SOCKET was set at New

	mu         sync.Mutex
	lastPing   time.Time
	lastStatus string
	warned     bool
}

// New reads the service manager's settings (NOTIFY_SOCKET, WATCHDOG_USEC and
// WATCHDOG_PID) from the environment. now is the clock for the watchdog rate
// limit (nil: time.Now).
func New(log *zap.Logger, now func() time.Time) *Notifier {
	if log == nil {
		log = zap.NewNop()
	}
	if now == nil {
		now = time.Now
	}
	n := &Notifier{log: log, now: now, enabled: os.Getenv("NOTIFY_SOCKET") != ""}
	wd, err := sd.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn("ignoring the systemd watchdog settings", zap.Error(err))
	}
	n.watchdog = wd
	return n
}

// Enabled reports whether a service manager listens (NOTIFY_SOCKET was set
// when New ran); callers may skip building status lines when it does not.
func (n *Notifier) Enabled() bool { return n.enabled }

// WatchdogInterval is the service's WatchdogSec (0 when off). Pings go out
// at most every half of it; the scheduler loop must iterate more often than
// that (the daemon caps its MaxWait accordingly).
func (n *Notifier) WatchdogInterval() time.Duration { return n.watchdog }

// Ready reports that start-up (or a reload) finished, with a status line.
func (n *Notifier) Ready(status string) {
	n.mu.Lock()
	n.lastStatus = status
	n.mu.Unlock()
	n.send(sd.SdNotifyReady + "\nSTATUS=" + status)
}

// Reloading reports that a config reload began; Ready ends it.
func (n *Notifier) Reloading() {
	n.send(sd.SdNotifyReloading + "\n" + sd.SdNotifyMonotonicUsec())
}

// Stopping reports that shutdown began.
func (n *Notifier) Stopping() {
	n.send(sd.SdNotifyStopping + "\nSTATUS=stopping")
}

// Status sends a STATUS= line when it differs from the last one sent.
func (n *Notifier) Status(status string) {
	n.mu.Lock()
	same := status == n.lastStatus
	n.lastStatus = status
	n.mu.Unlock()
	if !same {
		n.send("STATUS=" + status)
	}
}

// Watchdog sends WATCHDOG=1 when the watchdog is on and half of its interval
// has passed since the last ping. Call it from the loop whose liveness it
// vouches for.
func (n *Notifier) Watchdog() {
	if n.watchdog <= 0 {
		return
	}
	now := n.now()
	n.mu.Lock()
	due := n.lastPing.IsZero() || now.Sub(n.lastPing) >= n.watchdog/2 || now.Before(n.lastPing)
	if due {
		n.lastPing = now
	}
	n.mu.Unlock()
	if due {
		n.send(sd.SdNotifyWatchdog)
	}
}

// send delivers one message; a failure is logged once (systemd then notices
// on its own: a missing READY fails the start, missing pings the watchdog).
func (n *Notifier) send(msg string) {
	if _, err := sd.SdNotify(false, msg); err != nil {
		n.warnOnce(err)
	}
}

func (n *Notifier) warnOnce(err error) {
	n.mu.Lock()
	warned := n.warned
	n.warned = true
	n.mu.Unlock()
	if !warned {
		n.log.Warn("cannot notify systemd (NOTIFY_SOCKET)", zap.Error(err))
	}
}
