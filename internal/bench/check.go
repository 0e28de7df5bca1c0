package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

type sinkFile struct {
	AccessToken string `json:"access_token"`
	ExpiresAt   string `json:"expires_at"`
}

// checkSinks reads every sink file once and counts files that are missing,
// unreadable, hold a token past its expires_at, or one the provider does not
// consider active (expired or revoked).
func (s *setup) checkSinks() (bad int, first error) {
	now := time.Now()
	for i, path := range s.sinks {
		err := checkSink(path, now, s.provs[s.owner[i]])
		if err != nil {
			bad++
			if first == nil {
				first = err
			}
		}
	}
	return bad, first
}

func checkSink(path string, now time.Time, prov *provider) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var sf sinkFile
	if err := json.Unmarshal(b, &sf); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	exp, err := time.Parse(time.RFC3339, sf.ExpiresAt)
	if err != nil {
		return fmt.Errorf("%s: expires_at: %w", path, err)
	}
	if !now.Before(exp) {
		return fmt.Errorf("%s: token expired at %s (read at %s)", path, exp.Format(time.RFC3339), now.Format(time.RFC3339Nano))
	}
	if !prov.p.ActiveAccessToken(sf.AccessToken) {
		return fmt.Errorf("%s: the provider does not consider the token active", path)
	}
	return nil
}
