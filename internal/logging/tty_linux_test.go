package logging

import (
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/testkit"
)

// logOnTTY logs one line through a logger made with opts on a terminal and
// returns what the terminal received.
func logOnTTY(t *testing.T, opts Options) string {
	master, tty := testkit.OpenPTY(t)
	log, err := NewWith(tty, opts)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hello")
	_ = master.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := master.Read(buf)
	if err != nil {
		t.Fatalf("reading the terminal: %v", err)
	}
	return string(buf[:n])
}

// TestTerminalColourAndNoColor: on a terminal the automatic format is the
// coloured console; NO_COLOR (Options.NoColor) removes the colour codes and
// --log-format json gives JSON even there.
func TestTerminalColourAndNoColor(t *testing.T) {
	if out := logOnTTY(t, Options{}); !strings.Contains(out, "\x1b[") || !strings.Contains(out, "hello") {
		t.Fatalf("terminal, auto: %q", out)
	}
	if out := logOnTTY(t, Options{NoColor: true}); strings.Contains(out, "\x1b[") || !strings.Contains(out, "\tINFO\thello") {
		t.Fatalf("terminal, NO_COLOR: %q", out)
	}
	if out := logOnTTY(t, Options{Format: FormatJSON}); !strings.HasPrefix(out, `{"level":"info"`) {
		t.Fatalf("terminal, json: %q", out)
	}
	t.Setenv("NO_COLOR", "1")
	if !NoColorEnv() {
		t.Fatal("NO_COLOR=1 not seen")
	}
	t.Setenv("NO_COLOR", "")
	if NoColorEnv() {
		t.Fatal("an empty NO_COLOR asks for no change")
	}
}
