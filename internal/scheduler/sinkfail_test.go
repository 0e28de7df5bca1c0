package scheduler

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/syncbuf"
)

// A sink that fails every second for three minutes logs one error line when
// it starts failing, one repeat per minute with the count of failures not
// logged, and one info line when it recovers.
func TestSinkFailureLogsAreRateLimited(t *testing.T) {
	var buf syncbuf.Buffer
	e := &entry{log: credLog{base: credBase(newLogger(&buf)), name: "app"}}
	ss := &sinkState{sink: &recSink{name: "x"}}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	exp := t0.Add(30 * time.Second)
	e.sinkWrittenLocked(ss, 1, exp, t0)
	for i := 1; i <= 180; i++ {
		e.sinkFailedLocked(ss, errors.New("read-only file system"), t0.Add(time.Duration(i)*time.Second))
	}
	e.sinkWrittenLocked(ss, 2, t0.Add(time.Hour), t0.Add(181*time.Second))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 { // first failure (1 s), repeats at 61 s and 121 s, recovery
		t.Fatalf("%d log lines, want 4:\n%s", len(lines), buf.String())
	}
	var got []map[string]any
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	if got[0]["level"] != "error" || got[0]["sink"] != "rec:x" || got[0]["credential"] != "app" || got[0]["content_expires_at"] == nil {
		t.Fatalf("first line: %v", got[0])
	}
	if got[1]["level"] != "error" || got[1]["failures_not_logged"] != 59.0 || got[2]["failures_not_logged"] != 59.0 {
		t.Fatalf("repeats: %v / %v", got[1], got[2])
	}
	if got[3]["level"] != "info" || got[3]["msg"] != "sink write recovered" || got[3]["failures_not_logged"] != 59.0 {
		t.Fatalf("recovery: %v", got[3])
	}
	if !ss.ok || ss.lastErr != nil || ss.failing || !ss.lastOK.Equal(t0.Add(181*time.Second)) || ss.written != 2 {
		t.Fatalf("after recovery: %+v", ss)
	}
}
