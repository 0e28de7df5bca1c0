package file

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/tokend/tokend/internal/secret"
)

// ReadAccessToken reads back the access token that a Sink with the given
// format (FormatRaw, the default when empty, or FormatJSON) wrote to path. It
// serves commands run beside a daemon that holds the state store (tokend
// introspect). Raw content is trimmed of surrounding white space; a JSON
// document must carry a non-empty access_token. Errors name the path, never
// the content.
func ReadAccessToken(path, format string) (secret.Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return secret.Secret{}, fmt.Errorf("reading the access token from sink %s: %w", path, err)
	}
	if format != FormatJSON {
		return secret.New(strings.TrimSpace(string(b))), nil
	}
	var doc struct {
		AccessToken string `json:"access_token"` // as jsonToken writes it
	}
	if json.Unmarshal(b, &doc) != nil || doc.AccessToken == "" {
		return secret.Secret{}, fmt.Errorf("sink %s holds no access_token", path)
	}
	return secret.New(doc.AccessToken), nil
}
