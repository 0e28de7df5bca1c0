package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/sinks"
	"github.com/tokend/tokend/internal/sinks/envfile"
	"github.com/tokend/tokend/internal/sinks/file"
)

func fileSink(path, format string) config.Sink {
	return config.Sink{Type: "file", Options: &file.Config{FileKeys: sinks.FileKeys{Path: path}, Format: format}}
}

func envSink(path string) config.Sink {
	return config.Sink{Type: "envfile", Options: &envfile.Config{FileKeys: sinks.FileKeys{Path: path}}}
}

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
		{[]config.Sink{envSink("x"), fileSink(raw, "raw")}, "at-raw"},
		{[]config.Sink{fileSink(js, "json")}, "at-json"},
		{[]config.Sink{envSink("x")}, ""},
		{[]config.Sink{fileSink(raw, "json")}, ""},
	} {
		tok, err := tokenFromSink(&config.Credential{Sinks: tc.sinks})
		if tok.Reveal() != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("%+v: %q %v", tc.sinks, tok.Reveal(), err)
		}
	}
}
