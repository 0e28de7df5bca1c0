package config

import (
	"fmt"
	"time"
)

// Token request timeout: the default and the accepted range. README's config
// reference lists the same values.
const (
	DefaultRequestTimeout = 30 * time.Second
	MinRequestTimeout     = time.Second
	MaxRequestTimeout     = 10 * time.Minute
)

func (s *Scheduler) applyTimeoutDefaults() {
	if s.RequestTimeout.Duration == 0 {
		s.RequestTimeout.Duration = DefaultRequestTimeout
	}
}

// validateTimeouts checks [scheduler] request_timeout: a request that may not
// last a second fails against any real provider, and one that may hang for
// longer than ten minutes holds a provider slot and the refresh for that long.
func (s *Scheduler) validateTimeouts() []error {
	if d := s.RequestTimeout.Duration; d < MinRequestTimeout || d > MaxRequestTimeout {
		return []error{fmt.Errorf("scheduler.request_timeout: must be between %s and %s (got %s)", MinRequestTimeout, MaxRequestTimeout, d)}
	}
	return nil
}
