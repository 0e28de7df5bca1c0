package config

import (
	"strings"
	"testing"
	"time"
)

// TestRequestTimeout: [scheduler] request_timeout defaults to 30s, is
// decoded, and values outside 1s..10m are rejected with the key's name.
func TestRequestTimeout(t *testing.T) {
	cfg, err := Decode([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Scheduler.RequestTimeout.Duration; got != 30*time.Second {
		t.Fatalf("default request_timeout %s; want 30s", got)
	}
	cfg, err = Decode([]byte(good + "\n[scheduler]\nrequest_timeout = \"5s\"\n"))
	if err != nil || cfg.Scheduler.RequestTimeout.Duration != 5*time.Second {
		t.Fatalf("request_timeout 5s: %v %+v", err, cfg)
	}
	for _, v := range []string{"500ms", "11m", "-1s"} {
		_, err := Decode([]byte(good + "\n[scheduler]\nrequest_timeout = \"" + v + "\"\n"))
		if err == nil || !strings.Contains(err.Error(), "scheduler.request_timeout: must be between 1s and 10m0s") {
			t.Errorf("request_timeout %s: %v", v, err)
		}
	}
}
