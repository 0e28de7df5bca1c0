package config

import (
	"slices"
	"strings"
	"testing"
)

// TestExtraFieldsAndDeviceURL: extra_fields reaches the grants config;
// refresh_token cannot be kept; device_authorization_url follows the
// token_url rules.
func TestExtraFieldsAndDeviceURL(t *testing.T) {
	cr := decodeOne(t, `token_url = "https://idp.example/token"
client_id = "x"
auth_style = "none"
extra_fields = ["instance_url", "id_token"]
device_authorization_url = "https://idp.example/device"`)
	if gc := cr.GrantsConfig(); !slices.Equal(gc.ExtraFields, []string{"instance_url", "id_token"}) || cr.DeviceAuthorizationURL != "https://idp.example/device" {
		t.Fatalf("extra fields %v, device URL %q", gc.ExtraFields, cr.DeviceAuthorizationURL)
	}
	for body, want := range map[string]string{
		`extra_fields = ["refresh_token"]`:                       `extra field "refresh_token" cannot be kept`,
		`device_authorization_url = "http://idp.example/device"`: "device_authorization_url uses http://",
	} {
		_, err := Decode([]byte(one("token_url = \"https://idp.example/token\"\nclient_id = \"x\"\nauth_style = \"none\"\n" + body)))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", body, err, want)
		}
	}
}
