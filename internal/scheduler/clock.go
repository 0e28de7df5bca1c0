package scheduler

import (
	"time"

	"go.uber.org/zap"
)

// The scheduler's timers run on its own clock (issue 16 item 5): a wall
// clock that never goes back. The timer queue holds due times on that clock,
// and the loop sleeps on Go timers (the monotonic clock), so:
//
//   - a wall clock stepped back (NTP correction, VM restore) does not push a
//     planned refresh away: the clock keeps advancing with the monotonic clock;
//   - a wall clock that jumped forward (suspend/resume, where the monotonic
//     clock stood still) makes refreshes due at once: the clock advances with
//     the wall clock, re-read at least every MaxWait.
//
// Plans are still computed on the wall clock (the provider's expiry is a wall
// time) and converted to the scheduler's clock when queued, so a "refresh at"
// computed before a step keeps its distance from when it was planned.

// stepThreshold is how far the wall clock may move apart from the monotonic
// clock between two readings before the scheduler logs a clock step.
const stepThreshold = 2 * time.Second

// schedClock is the scheduler's clock. Guarded by Scheduler.mu.
type schedClock struct {
	started  bool
	lastWall time.Time // wall clock at the last reading (no monotonic reading)
	lastMono time.Time // time.Now at the last reading (monotonic reading)
	at       time.Time // the scheduler's clock at the last reading
}

// clockLocked reads both clocks and returns the wall time and the scheduler's
// time now. The scheduler's clock advances by the larger of the wall and the
// monotonic time elapsed since the last reading, so it follows a forward
// jump of the wall clock and ignores a backward step. Steps are logged.
func (s *Scheduler) clockLocked() (wall, sched time.Time) {
	c := &s.clk
	wall, mono := s.now(), time.Now()
	if !c.started {
		c.started, c.lastWall, c.lastMono, c.at = true, wall, mono, wall
		return wall, wall
	}
	dw, dm := wall.Sub(c.lastWall), max(mono.Sub(c.lastMono), 0)
	switch {
	case dw > dm+stepThreshold:
		s.log.Warn("the wall clock jumped forward (suspend/resume or a clock step); refreshes that came due meanwhile run now",
			zap.Duration("jump", dw-dm))
	case dw < dm-stepThreshold:
		s.log.Warn("the wall clock stepped back; planned refreshes keep their time on the monotonic clock",
			zap.Duration("step", dm-dw))
	}
	c.at = c.at.Add(max(dw, dm))
	c.lastWall, c.lastMono = wall, mono
	return wall, c.at
}

// dueLocked converts a wall time planned just now into the scheduler's clock.
func (s *Scheduler) dueLocked(at time.Time) time.Time {
	wall, sched := s.clockLocked()
	return sched.Add(at.Sub(wall))
}

// expiryLocked returns the access token's expiry on the scheduler's clock
// (zero when it has none): pinned when the loop first sees the record's
// expiry, so a later step of the wall clock does not move it.
func (s *Scheduler) expiryLocked(e *entry) time.Time {
	if e.rec.ExpiresAt.IsZero() {
		return time.Time{}
	}
	if !e.expOf.Equal(e.rec.ExpiresAt) || e.expAt.IsZero() {
		e.expOf, e.expAt = e.rec.ExpiresAt, s.dueLocked(e.rec.ExpiresAt)
	}
	return e.expAt
}
