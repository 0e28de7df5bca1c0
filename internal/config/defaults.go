package config

import (
	"time"

	"github.com/tokend/tokend/internal/grants"
)

// Defaults, in one place. README's config reference lists the same values.
const (
	DefaultStateDir      = "/var/lib/tokend"
	DefaultMaxConcurrent = 16
	DefaultShutdownGrace = 30 * time.Second
	DefaultLifetime      = time.Hour
	DefaultGrant         = string(grants.DefaultGrant)
	DefaultAuthStyle     = string(grants.DefaultAuthStyle)
	DefaultBody          = "form"
	DefaultStateBackend  = "file"
	DefaultProvider      = "generic"
)

// applyDefaults fills the top-level defaults and those that depend on every
// credential (preset limits), after each credential's own (Credential.applyDefaults).
func (c *Config) applyDefaults() {
	if c.State.Backend == "" {
		c.State.Backend = DefaultStateBackend
	}
	if c.State.Dir == "" {
		c.State.Dir = DefaultStateDir
	}
	if c.Scheduler.MaxConcurrent == 0 {
		c.Scheduler.MaxConcurrent = DefaultMaxConcurrent
	}
	if c.Scheduler.ShutdownGrace.Duration == 0 {
		c.Scheduler.ShutdownGrace.Duration = DefaultShutdownGrace
	}
	c.Scheduler.applyTimeoutDefaults()
	// each credential's own defaults were applied as its file was decoded (decodePart)
	c.addPresetLimits()              // a preset's documented rate for its host (presetvars.go)
	c.Scheduler.applyLimitDefaults() // per-provider limits: none unless configured (limits.go)
	c.applyVaultDefaults()
}

func (cr *Credential) applyDefaults() {
	if cr.Provider == "" {
		cr.Provider = DefaultProvider
	}
	cr.applyPreset() // before the generic defaults: a preset's values win over them
	if cr.Grant == "" {
		cr.Grant = DefaultGrant
	}
	if cr.AuthStyle == "" {
		cr.AuthStyle = DefaultAuthStyle
		if cr.GrantKind().AuthOptional { // the grant's own JWT authenticates
			cr.AuthStyle = string(grants.AuthNone)
		}
	}
	if cr.Body == "" {
		cr.Body = DefaultBody
	}
	if cr.DefaultLifetime.Duration == 0 {
		cr.DefaultLifetime.Duration = DefaultLifetime
	}
	for i := range cr.Sinks {
		cr.Sinks[i].applyDefaults() // the kind's own defaults (sinks.go)
	}
}
