package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
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
