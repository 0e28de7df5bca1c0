package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tokend/tokend/internal/config"
)

func TestTokenFromSink(t *testing.T) {
	dir := t.TempDir()
	raw, js := filepath.Join(dir, "a.token"), filepath.Join(dir, "a.json")
	if err := os.WriteFile(raw, []byte("at-raw"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(js, []byte(`{"access_token":"at-json","token_type":"Bearer"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		sinks []config.Sink
		want  string
	}{
		{[]config.Sink{{Type: "envfile", Path: "x"}, {Type: "file", Path: raw, Format: "raw"}}, "at-raw"},
		{[]config.Sink{{Type: "file", Path: js, Format: "json"}}, "at-json"},
		{[]config.Sink{{Type: "envfile", Path: "x"}}, ""},
		{[]config.Sink{{Type: "file", Path: raw, Format: "json"}}, ""},
	} {
		tok, err := tokenFromSink(&config.Credential{Sinks: tc.sinks})
		if tok.Reveal() != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("%+v: %q %v", tc.sinks, tok.Reveal(), err)
		}
	}
}
