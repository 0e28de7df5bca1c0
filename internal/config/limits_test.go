package config

import (
	"os"
	"strings"
	"testing"
)

func TestProviderKey(t *testing.T) {
	for url, want := range map[string]string{
		"https://au-api.basiq.io/token":         "https://au-api.basiq.io:443",
		"https://API.Apicbase.com/oauth/token/": "https://api.apicbase.com:443",
		"http://127.0.0.1:8080/token":           "http://127.0.0.1:8080",
		"https://[::1]:9443/t":                  "https://[::1]:9443",
		"":                                      "",
	} {
		cr := Credential{TokenURL: url}
		if got := cr.ProviderKey(); got != want {
			t.Errorf("ProviderKey(%q) = %q; want %q", url, got, want)
		}
	}
}

func TestProviderLimitsDecodeAndDefaults(t *testing.T) {
	cfg, err := Decode([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	sc := cfg.Scheduler
	if sc.MaxPerProvider != 0 || sc.ProviderRate != 0 || sc.ProviderBurst != 1 || len(sc.Providers) != 0 {
		t.Fatalf("defaults: %+v; want no per-provider bound, no rate, burst 1", sc)
	}
	if m, r, b := sc.LimitFor(cfg.Credentials[0].ProviderKey()); m != 0 || r != 0 || b != 1 {
		t.Fatalf("default limit %d %v %d; want 0 0 1", m, r, b)
	}

	cfg, err = Decode([]byte(good + `
[scheduler]
max_per_provider = 8
provider_rate = 20

[[scheduler.provider]]
host = "AU-API.basiq.io"
max_concurrent = 4
rate = 5

[[scheduler.provider]]
host = "api.apicbase.com"
rate = 0.5
burst = 3

[[scheduler.provider]]
host = "127.0.0.1:8080"
max_concurrent = 1

[[scheduler.provider]]
host = "127.0.0.1"
rate = 0
`))
	if err != nil {
		t.Fatal(err)
	}
	sc = cfg.Scheduler
	if k := cfg.Credentials[0].ProviderKey(); k != "https://api.apicbase.com:443" {
		t.Fatalf("apicbase credential's provider key %q", k)
	}
	type lim struct {
		m int
		r float64
		b int
	}
	for key, want := range map[string]lim{
		"https://au-api.basiq.io:443":  {4, 5, 4},   // burst from its own max_concurrent
		"https://api.apicbase.com:443": {8, 0.5, 3}, // max_per_provider inherited
		"http://127.0.0.1:8080":        {1, 20, 1},  // the entry with the port wins
		"http://127.0.0.1:9090":        {8, 0, 8},   // the one without a port, rate = 0 kept
		"https://other.example:443":    {8, 20, 8},  // [scheduler] values
		"":                             {8, 20, 8},
	} {
		m, r, b := sc.LimitFor(key)
		if got := (lim{m, r, b}); got != want {
			t.Errorf("LimitFor(%q) = %+v; want %+v", key, got, want)
		}
	}

	// An explicit provider_burst is inherited by entries that set none.
	cfg, err = Decode([]byte(good + "[scheduler]\nprovider_rate = 1\nprovider_burst = 2\n[[scheduler.provider]]\nhost = \"a.example\"\nmax_concurrent = 6\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m, r, b := cfg.Scheduler.LimitFor("https://a.example:443"); m != 6 || r != 1 || b != 2 {
		t.Fatalf("LimitFor = %d %v %d; want 6 1 2", m, r, b)
	}
}

func TestProviderLimitsValidation(t *testing.T) {
	_, err := Decode([]byte(good + `
[scheduler]
max_per_provider = -1
provider_rate = -2
provider_burst = -3

[[scheduler.provider]]
host = "api.basiq.io"
max_concurrent = -1
rate = nan
burst = -1
concurrency = 4

[[scheduler.provider]]
host = "API.basiq.io"

[[scheduler.provider]]
host = "https://x.example/token"
rate = inf

[[scheduler.provider]]
rate = 1
`))
	if err == nil {
		t.Fatal("invalid limits accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		"scheduler.max_per_provider: must not be negative",
		"scheduler.provider_rate: must be a number of calls per second",
		"scheduler.provider_burst: must not be negative",
		"scheduler.provider[1].max_concurrent: must not be negative",
		"scheduler.provider[1].rate: must be a number of calls per second",
		"scheduler.provider[1].burst: must not be negative",
		"line 51: scheduler.provider[1].concurrency: unknown key",
		`scheduler.provider[2].host: "API.basiq.io" is already listed in scheduler.provider[1]`,
		`scheduler.provider[3].host: "https://x.example/token" must be a host name or host:port`,
		"scheduler.provider[3].rate: must be a number of calls per second",
		"scheduler.provider[4].host: is required",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	// [scheduler]'s bad values are reported once, not again under the
	// entries that inherit them.
	for _, notWant := range []string{"provider[2].max_concurrent", "provider[2].rate", "provider[2].burst", "provider[4].burst"} {
		if strings.Contains(msg, notWant) {
			t.Errorf("%q reported for an inherited value:\n%s", notWant, msg)
		}
	}
}

// TestShippedLimitsExample uncomments the [scheduler] keys of tokend.toml and
// checks they decode to what its comments say.
func TestShippedLimitsExample(t *testing.T) {
	b, err := os.ReadFile("../../tokend.toml")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(b), "\n[scheduler]\n")
	section, _, _ = strings.Cut(section, "\n[status]\n")
	body := "[scheduler]\n"
	for _, line := range strings.Split(section, "\n") {
		if l := strings.TrimPrefix(strings.TrimPrefix(line, "#"), " "); tomlLine.MatchString(l) {
			body += l + "\n"
		}
	}
	cfg, err := Decode([]byte(good + body))
	if err != nil {
		t.Fatalf("tokend.toml's [scheduler] keys, uncommented:\n%s\n%v", body, err)
	}
	sc := cfg.Scheduler
	if m, r, b := sc.LimitFor("https://au-api.basiq.io:443"); m != 4 || r != 5 || b != 4 || sc.MaxPerProvider != 0 || sc.ProviderBurst != 1 {
		t.Fatalf("example limits %d %v %d, %+v", m, r, b, sc)
	}
}
