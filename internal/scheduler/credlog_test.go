package scheduler

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// TestCredLogMatchesWith checks that a credLog line is byte for byte the line
// of a child logger made with With(credential), caller annotation included.
func TestCredLogMatchesWith(t *testing.T) {
	var buf bytes.Buffer
	ec := zap.NewProductionEncoderConfig()
	ec.TimeKey = ""
	base := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(ec), zapcore.AddSync(&buf), zapcore.InfoLevel),
		zap.AddCaller()).Named("scheduler").With(zap.String("replica", "a"))
	fields := []zap.Field{zap.String("status", "ok"), zap.Int("attempt", 2)}

	base.With(zap.String("credential", "app")).Warn("refresh failed", fields...)
	want := buf.String()
	buf.Reset()
	l := credLog{base: credBase(base), name: "app"}
	l.Warn("refresh failed", fields...)
	// The caller line differs (two calls); compare everything else.
	strip := func(s string) string {
		i := strings.Index(s, `"caller":"`)
		j := strings.Index(s[i:], `",`)
		return s[:i] + s[i+j+2:]
	}
	if got := buf.String(); strip(got) != strip(want) {
		t.Fatalf("credLog line\n%s\nwant (as With)\n%s", got, want)
	}
	if !strings.Contains(buf.String(), `"caller":"scheduler/credlog_test.go:`) {
		t.Errorf("caller should be the logging call site: %s", buf.String())
	}

	buf.Reset()
	l.Debug("not logged", fields...) // below the level: nothing built or written
	credLog{}.Error("zero value discards")
	if buf.Len() != 0 {
		t.Errorf("unexpected output %q", buf.String())
	}
}
