package fakeprovider

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/tokend/tokend/internal/atomicfile"
)

// stateVersion is the format of the state file; New refuses other versions.
const stateVersion = 1

// loadState reads a state file. No path, or a missing file, is an empty
// provider; anything unreadable, malformed or inconsistent is an error (a
// provider that silently forgot its revocations would prove nothing).
func loadState(path string) (*state, error) {
	if path == "" {
		return newState(), nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return newState(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading fake provider state %q: %w", path, err)
	}
	st := newState()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(st); err != nil {
		return nil, fmt.Errorf("decoding fake provider state %q: %w", path, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decoding fake provider state %q: trailing data after the JSON object", path)
	}
	if err := st.check(); err != nil {
		return nil, fmt.Errorf("fake provider state %q is corrupt: %w", path, err)
	}
	return st, nil
}

// check fills absent maps and verifies that every reference resolves, so
// that the Locked methods can index without nil checks.
func (st *state) check() error {
	if st.Version != stateVersion {
		return fmt.Errorf("unsupported version %d (want %d)", st.Version, stateVersion)
	}
	if st.Clients == nil {
		st.Clients = map[string]*client{}
	}
	if st.Families == nil {
		st.Families = map[string]*family{}
	}
	if st.Refresh == nil {
		st.Refresh = map[string]*refreshToken{}
	}
	if st.Access == nil {
		st.Access = map[string]*accessToken{}
	}
	if st.Codes == nil {
		st.Codes = map[string]*authCode{}
	}
	for _, c := range st.Clients {
		if c == nil {
			return errors.New("null client record")
		}
	}
	for _, f := range st.Families {
		if f == nil {
			return errors.New("null family record")
		}
	}
	for _, rt := range st.Refresh {
		if rt == nil || st.Families[rt.Family] == nil {
			return errors.New("refresh token without a family")
		}
	}
	for _, at := range st.Access {
		if at == nil || (at.Family != "" && st.Families[at.Family] == nil) {
			return errors.New("access token with an unknown family")
		}
	}
	for _, ac := range st.Codes {
		if ac == nil || (ac.Family != "" && st.Families[ac.Family] == nil) {
			return errors.New("authorization code with an unknown family")
		}
	}
	if len(st.Issued) != len(st.Refresh) {
		return errors.New("issued refresh token list does not match the refresh tokens")
	}
	for _, tok := range st.Issued {
		if st.Refresh[tok] == nil {
			return errors.New("issued refresh token list names an unknown token")
		}
	}
	return nil
}

// saveLocked writes the whole state durably. Callers hold p.mu, which also
// orders the writes.
func (p *Provider) saveLocked() error {
	data, err := json.Marshal(p.st)
	if err != nil {
		return fmt.Errorf("encoding fake provider state: %w", err)
	}
	if err := atomicfile.WriteFile(p.path, data, 0o600); err != nil {
		return fmt.Errorf("saving fake provider state %q: %w", p.path, err)
	}
	return nil
}
