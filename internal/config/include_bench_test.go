package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkLoad10kIncluded loads the 10,000 credentials of
// BenchmarkLoad10kOneFile as 100 included files of 100 (conf.d/*.toml),
// each decoded on its own.
func BenchmarkLoad10kIncluded(b *testing.B) {
	dir := b.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "conf.d"), 0o700); err != nil {
		b.Fatal(err)
	}
	main := filepath.Join(dir, "tokend.toml")
	if err := os.WriteFile(main, []byte("include = \"conf.d/*.toml\"\n[state]\ndir = \"/var/lib/tokend\"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	for f := range 100 {
		var sb strings.Builder
		credentials10k(&sb, f*100, 100)
		if err := os.WriteFile(filepath.Join(dir, "conf.d", fmt.Sprintf("%03d.toml", f)), []byte(sb.String()), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	benchLoad(b, main, 10000)
}
