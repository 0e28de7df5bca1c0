package scheduler

import (
	"time"

	"go.uber.org/zap"
)

// SinkFailLogEvery is the least time between two log lines about one sink
// that keeps failing: the first failure is logged at once (error), repeats
// at most once per SinkFailLogEvery with the number of failures not logged
// since, and the recovery once (info).
const SinkFailLogEvery = time.Minute

// sinkFailedLocked records a failed write to ss and logs it under the rate
// limit of SinkFailLogEvery.
func (e *entry) sinkFailedLocked(ss *sinkState, err error, now time.Time) {
	ss.lastErr, ss.ok = err, false
	switch {
	case !ss.failing:
		ss.failing, ss.failLog, ss.quiet = true, now, 0
		e.log.Error("sink write failed; will retry (repeats are logged at most once a minute)",
			zap.String("sink", ss.sink.String()), zap.Error(err), zap.Timep("content_expires_at", timeOrNil(ss.expires)))
	case now.Sub(ss.failLog) >= SinkFailLogEvery:
		e.log.Error("sink write still failing; will retry",
			zap.String("sink", ss.sink.String()), zap.Error(err), zap.Int("failures_not_logged", ss.quiet),
			zap.Timep("last_success", timeOrNil(ss.lastOK)), zap.Timep("content_expires_at", timeOrNil(ss.expires)))
		ss.failLog, ss.quiet = now, 0
	default:
		ss.quiet++
	}
}

// sinkWrittenLocked records a successful write of generation gen (expiring
// at exp) to ss and logs the recovery of a failing sink.
func (e *entry) sinkWrittenLocked(ss *sinkState, gen uint64, exp, now time.Time) {
	if ss.failing {
		e.log.Info("sink write recovered", zap.String("sink", ss.sink.String()), zap.Uint64("generation", gen),
			zap.Int("failures_not_logged", ss.quiet))
	}
	ss.written, ss.ok, ss.lastErr = gen, true, nil
	ss.lastOK, ss.expires, ss.failing, ss.quiet = now, exp, false, 0
}

// timeOrNil is nil for the zero time, so an unknown time is left out of a
// log line rather than printed as 0001-01-01.
func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
