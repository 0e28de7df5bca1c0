package config

import (
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/tokend/tokend/internal/sinks/envfile"
)

// TestDecodedConfigDoesNotKeepTheDocument: the decoder's strings share the
// document's memory; a config kept after Decode must not hold it.
func TestDecodedConfigDoesNotKeepTheDocument(t *testing.T) {
	const pad = 16 << 20
	heap := func() int64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	before := heap()
	decode := func() *Config { // the document is garbage once this returns
		cfg, err := Decode([]byte(good + "\n# " + strings.Repeat("x", pad) + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	cfg := decode()
	if grew := heap() - before; grew > pad/2 {
		t.Fatalf("the decoded config keeps %d MiB alive: it still shares the document's memory", grew>>20)
	}
	if cfg.Credentials[0].Sinks[1].Options.(*envfile.Config).Path != "/run/tokend/tokens.env" || cfg.Credentials[0].Scopes[1] != "library" ||
		cfg.Credentials[0].Headers["X-Version"] != "2" || cfg.Credentials[1].Name != "svc" {
		t.Fatalf("values changed: %+v", cfg.Credentials)
	}
}

// TestDecodeStoresEqualStringsOnce: a value repeated across credentials
// (one token endpoint for thousands of them) is stored once.
func TestDecodeStoresEqualStringsOnce(t *testing.T) {
	cfg, err := Decode([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Credentials[0].Sinks[1].Options.(*envfile.Config).Path, cfg.Credentials[1].Sinks[0].Options.(*envfile.Config).Path
	if a != b || unsafe.StringData(a) != unsafe.StringData(b) {
		t.Fatalf("the env-file path %q of both credentials is stored twice", a)
	}
}
