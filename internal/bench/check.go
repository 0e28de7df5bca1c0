package bench

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/tokend/tokend/internal/sinks/envfile"
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
	envs := map[string]map[string]string{} // env-files parsed in this pass
	for i, path := range s.sinks {
		var err error
		if s.vault != nil {
			err = checkVaultSink(s.vault, path, now, s.provs[s.owner[i]])
		} else if s.vars != nil {
			err = checkEnvVar(envs, path, s.vars[i], s.provs[s.owner[i]])
		} else {
			err = checkSink(path, now, s.provs[s.owner[i]])
		}
		if err != nil {
			bad++
			if first == nil {
				first = err
			}
		}
	}
	return bad, first
}

// checkEnvVar checks one credential's variable in an env-file (an env-file
// has no expiry: the provider's answer covers it).
func checkEnvVar(envs map[string]map[string]string, path, name string, prov *provider) error {
	vars, ok := envs[path]
	if !ok {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if vars, err = envfile.Parse(b); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		envs[path] = vars
	}
	if !prov.p.ActiveAccessToken(vars[name]) {
		return fmt.Errorf("%s: %s is missing or not active at the provider", path, name)
	}
	return nil
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
	return checkToken(path, sf, now, prov)
}

// checkVaultSink checks one credential's Vault KV v2 sink like a JSON file.
func checkVaultSink(vs *vaultServer, path string, now time.Time, prov *provider) error {
	sf, err := vs.kvToken(http.DefaultClient, path)
	if err != nil {
		return err
	}
	return checkToken(path, sf, now, prov)
}

// checkToken fails for a token past its expires_at or one the provider does
// not consider active.
func checkToken(path string, sf sinkFile, now time.Time, prov *provider) error {
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
