package config

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkDecode10k decodes, defaults and validates a config of 10,000
// credentials with one file or env-file sink each, as the daemon does at
// start-up and on reload.
func BenchmarkDecode10k(b *testing.B) {
	var sb strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&sb, "[[credential]]\nname = \"c%05d\"\ntoken_url = \"https://auth.example/token\"\nclient_id = \"id\"\nclient_secret_env = \"S\"\n", i)
		if i%2 == 0 {
			fmt.Fprintf(&sb, "  [[credential.sink]]\n  type = \"file\"\n  path = \"/run/tokend/c%05d.json\"\n  format = \"json\"\n", i)
		} else {
			fmt.Fprintf(&sb, "  [[credential.sink]]\n  type = \"envfile\"\n  path = \"/run/tokend/e%02d.env\"\n  var = \"C%05d_TOKEN\"\n", i%64, i)
		}
	}
	data := []byte(sb.String())
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}
