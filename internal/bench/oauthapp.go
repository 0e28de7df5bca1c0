package bench

import (
	"fmt"
	"net/http"
	"sync"
	"time"
)

// oauthappMount is where the plugin is mounted on its Vault; the dev server
// registers every binary of -dev-plugin-dir under its file name.
const (
	oauthappMount  = "oauth2"
	oauthappPlugin = "vault-plugin-secrets-oauthapp"
)

// setupOAuthApp mounts the plugin and configures one server of the
// "custom" provider for the fake provider's token endpoint (client "peer",
// HTTP Basic). checkInterval > 0 sets tune_refresh_check_interval_seconds;
// everything else keeps the plugin's defaults.
func setupOAuthApp(hc *http.Client, v *vaultServer, tokenURL string, checkInterval time.Duration) error {
	if err := v.do(hc, http.MethodPost, "sys/mounts/"+oauthappMount, map[string]any{"type": oauthappPlugin}, nil); err != nil {
		return fmt.Errorf("mounting the oauthapp plugin: %w", err)
	}
	if checkInterval > 0 {
		cfg := map[string]any{"tune_refresh_check_interval_seconds": int(checkInterval / time.Second)}
		if err := v.do(hc, http.MethodPut, oauthappMount+"/config", cfg, nil); err != nil {
			return err
		}
	}
	return v.do(hc, http.MethodPut, oauthappMount+"/servers/fake", map[string]any{
		"provider": "custom", "client_id": "peer", "client_secret": "peer-secret",
		"provider_options": map[string]string{"token_url": tokenURL, "auth_style": "in_header"},
	}, nil)
}

func credName(i int) string { return fmt.Sprintf("c%06d", i) }

// writeCreds creates n creds with grant_type=refresh_token (each write
// refreshes once at the provider) by `workers` concurrent clients.
func writeCreds(hc *http.Client, v *vaultServer, ob *observed, n, workers int) error {
	rts := make([]string, n)
	for i := range rts {
		rts[i] = ob.seed("peer", "oauthapp")
	}
	jobs := make(chan int)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				err := v.do(hc, http.MethodPut, oauthappMount+"/creds/"+credName(i), map[string]any{
					"server": "fake", "grant_type": "refresh_token", "refresh_token": rts[i]}, nil)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("oauthapp creds %s: %w", credName(i), err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return first
}

// readCred reads cred i from the plugin's creds endpoint, as a client
// would (with the default minimum_seconds: the plugin refreshes a token
// with less than 10 s left before answering).
func readCred(hc *http.Client, v *vaultServer, i int) (string, time.Time, error) {
	var d struct {
		AccessToken string    `json:"access_token"`
		ExpireTime  time.Time `json:"expire_time"`
	}
	err := v.do(hc, http.MethodGet, oauthappMount+"/creds/"+credName(i), nil, &d)
	return d.AccessToken, d.ExpireTime, err
}
