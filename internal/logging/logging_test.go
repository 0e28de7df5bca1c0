package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestFormats: --log-format json|console is honoured whatever the output is,
// an unknown format or level is refused, and console output off a terminal
// has no colour codes.
func TestFormats(t *testing.T) {
	var buf bytes.Buffer
	log, err := NewWith(&buf, Options{Format: FormatConsole})
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hello")
	if out := buf.String(); !strings.Contains(out, "\tINFO\thello") || strings.Contains(out, "\x1b[") {
		t.Fatalf("console off a terminal: %q", out)
	}
	buf.Reset()
	if log, err = NewWith(&buf, Options{Format: FormatJSON, Level: "debug"}); err != nil {
		t.Fatal(err)
	}
	log.Debug("hello")
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil || m["msg"] != "hello" || m["level"] != "debug" {
		t.Fatalf("json: %v %q", err, buf.String())
	}
	if _, err := NewWith(&buf, Options{Format: "xml"}); err == nil || !strings.Contains(err.Error(), `invalid log format "xml" (json, console, auto)`) {
		t.Fatalf("unknown format: %v", err)
	}
	if _, err := NewWith(&buf, Options{Level: "loud"}); err == nil {
		t.Fatal("unknown level accepted")
	}
}

// TestDurationsRounded (issue 14 item 6): durations in log lines are
// rounded for reading, in both formats.
func TestDurationsRounded(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{3987041226 * time.Nanosecond, "4s"},
		{90*time.Second + 400*time.Millisecond, "1m30s"},
		{1234 * time.Millisecond, "1.2s"},
		{35123456 * time.Nanosecond, "35.1ms"},
		{1234567 * time.Nanosecond, "1.2ms"},
		{250400 * time.Nanosecond, "250µs"},
		{-3987 * time.Millisecond, "-4s"},
	} {
		if got := Round(c.d).String(); got != c.want {
			t.Errorf("Round(%v) = %s, want %s", c.d, got, c.want)
		}
	}
	for _, format := range []string{FormatJSON, FormatConsole} {
		var buf bytes.Buffer
		log, err := NewWith(&buf, Options{Format: format})
		if err != nil {
			t.Fatal(err)
		}
		log.Warn("refresh failed; backing off", zap.Duration("retry_in", 3987041226*time.Nanosecond))
		if out := strings.ReplaceAll(buf.String(), " ", ""); !strings.Contains(out, `"retry_in":"4s"`) || strings.Contains(out, "3.98") {
			t.Errorf("%s: %q", format, out)
		}
	}
}
