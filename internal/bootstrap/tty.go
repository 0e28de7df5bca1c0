package bootstrap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"golang.org/x/term"
)

// ReadHidden reads a pasted token from the terminal fd without echoing it:
// one line for a refresh token, or lines until they form a JSON value (or
// Ctrl-D) for a token JSON. It reads at most limit bytes and a line more.
func ReadHidden(fd int, limit int) ([]byte, error) {
	var buf bytes.Buffer
	for {
		line, err := term.ReadPassword(fd) // echo off for the line, restored after
		if errors.Is(err, io.EOF) {
			return buf.Bytes(), nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading the token from the terminal: %w", err)
		}
		buf.Write(line)
		buf.WriteByte('\n')
		text := bytes.TrimSpace(buf.Bytes())
		switch {
		case len(text) == 0:
			continue // blank lines before the paste
		case text[0] != '{' || json.Valid(text) || buf.Len() > limit:
			return buf.Bytes(), nil
		}
	}
}
