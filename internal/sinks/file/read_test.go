package file

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadAccessTokenReadsWhatWriteWrote: both formats read back the token a
// Sink wrote; a JSON file without access_token and a missing file are errors
// that name the path and not the content.
func TestReadAccessTokenReadsWhatWriteWrote(t *testing.T) {
	dir := t.TempDir()
	for _, format := range []string{"", FormatRaw, FormatJSON} {
		path := filepath.Join(dir, "tok-"+format)
		s := newSink(t, Options{Path: path, Format: format})
		if err := s.Write(context.Background(), token()); err != nil {
			t.Fatal(err)
		}
		got, err := ReadAccessToken(path, format)
		if err != nil || got.Reveal() != tokenValue {
			t.Errorf("format %q: read %q, %v", format, got.Reveal(), err)
		}
	}
	// A raw file written by hand, with a newline.
	hand := filepath.Join(dir, "hand")
	if err := os.WriteFile(hand, []byte("  at-by-hand\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadAccessToken(hand, FormatRaw); err != nil || got.Reveal() != "at-by-hand" {
		t.Errorf("hand-written raw file: %q, %v", got.Reveal(), err)
	}
	for name, content := range map[string]string{"not-json": "at-not-json", "no-field": `{"token_type":"Bearer"}`, "empty": `{"access_token":""}`} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := ReadAccessToken(path, FormatJSON)
		if err == nil || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "at-not-json") {
			t.Errorf("%s: %v", name, err)
		}
	}
	missing := filepath.Join(dir, "missing")
	if _, err := ReadAccessToken(missing, FormatRaw); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v", err)
	}
}
