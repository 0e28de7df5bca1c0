package scheduler

import (
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// credLog logs for one credential: each line gets a "credential" field, as
// if written by base.With(zap.String("credential", name)), but no child
// logger is kept per credential. A zap child logger clones its encoder with
// a pooled buffer, and one per credential was a large share of the heap
// (docs/performance.md, "Figures behind the code"). The zero value discards everything.
type credLog struct {
	base *zap.Logger // Scheduler.credLog: the scheduler's logger through credBase
	name string
}

// credBase is the logger credLog writes through: the scheduler's own, with
// the caller skip that makes a caller annotation (zap.AddCaller) point at the
// scheduler code that logged, not at credLog.
func credBase(log *zap.Logger) *zap.Logger { return log.WithOptions(zap.AddCallerSkip(2)) }

func (l credLog) Debug(msg string, fields ...zap.Field) { l.write(zapcore.DebugLevel, msg, fields) }
func (l credLog) Info(msg string, fields ...zap.Field)  { l.write(zapcore.InfoLevel, msg, fields) }
func (l credLog) Warn(msg string, fields ...zap.Field)  { l.write(zapcore.WarnLevel, msg, fields) }
func (l credLog) Error(msg string, fields ...zap.Field) { l.write(zapcore.ErrorLevel, msg, fields) }

// write puts the credential field first, where With would have put it, and
// builds nothing when the level is disabled.
func (l credLog) write(lvl zapcore.Level, msg string, fields []zap.Field) {
	if l.base == nil {
		return
	}
	if ce := l.base.Check(lvl, msg); ce != nil {
		all := make([]zap.Field, 0, len(fields)+1)
		ce.Write(append(append(all, zap.String("credential", l.name)), fields...)...)
	}
}
