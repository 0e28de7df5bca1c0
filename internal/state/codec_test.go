package state

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/secret"
)

func TestCodecRoundTrip(t *testing.T) {
	c := jsonCodec{}
	for name, rec := range map[string]Record{
		"full":    fullRecord("full"),
		"minimal": {Credential: "minimal", RefreshToken: secret.New("r")},
		"now":     {Credential: "now", AccessToken: secret.New("a"), ExpiresAt: time.Now(), IssuedAt: time.Now().Local()},
		"empty-pointers": {Credential: "empty-pointers", RefreshToken: secret.New("r"),
			LastError: &ErrorInfo{}, Intent: &Intent{}},
	} {
		t.Run(name, func(t *testing.T) {
			data, err := c.encode(rec)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			got, err := c.decode(rec.Credential, data)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			assertRecord(t, got, rec)
		})
	}
}

func TestCodecOnDiskFormat(t *testing.T) {
	data, err := jsonCodec{}.encode(Record{Credential: "x", RefreshToken: secret.New("rt"),
		ExpiresAt: time.Date(2030, 1, 2, 3, 4, 5, 6, time.FixedZone("", -5*3600))})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if m["v"] != float64(1) {
		t.Errorf("v = %v, want 1", m["v"])
	}
	if m["refresh_token"] != "rt" {
		t.Errorf("refresh_token = %v, want the revealed value", m["refresh_token"])
	}
	if m["expires_at"] != "2030-01-02T08:04:05.000000006Z" {
		t.Errorf("expires_at = %v, want RFC 3339 nano in UTC", m["expires_at"])
	}
	for _, k := range []string{"issued_at", "last_success", "access_token", "last_error", "intent"} {
		if _, ok := m[k]; ok {
			t.Errorf("zero field %q was written: %s", k, data)
		}
	}
}

func TestCodecRejectsUnrepresentableTime(t *testing.T) {
	rec := fullRecord("x")
	rec.ExpiresAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := (jsonCodec{}).encode(rec); err == nil || !strings.Contains(err.Error(), "expires_at") {
		t.Fatalf("encode of year 10000: err = %v, want an error naming expires_at", err)
	}
}

func TestCodecDecodeErrors(t *testing.T) {
	const tok = "SECRETTOKEN"
	for name, tc := range map[string]struct {
		data string
		want string
	}{
		"future version": {`{"v":2,"credential":"x","refresh_token":"` + tok + `"}`, "schema version 2"},
		"no version":     {`{"credential":"x","refresh_token":"` + tok + `"}`, "invalid schema version 0"},
		"not json":       {`{"v":1,"credential":"x","refresh_token":` + tok + `}`, "invalid JSON at byte"},
		"truncated":      {`{"v":1,"credential":"x","refresh_token":"` + tok, "malformed record"},
		"empty":          {``, "malformed record"},
		"trailing":       {`{"v":1,"credential":"x"} {"` + tok + `":1}`, "malformed record"},
		"token as key":   {`{"v":1,"credential":"x","refresh_token","` + tok + `":1}`, "malformed record"},
		"unknown field":  {`{"v":1,"credential":"x","` + tok + `":"y"}`, "unexpected field"},
		"wrong type":     {`{"v":1,"credential":"x","generation":"` + tok + `"}`, `field "generation" has the wrong type`},
		"bad time":       {`{"v":1,"credential":"x","expires_at":"` + tok + `"}`, "field expires_at is not an RFC 3339 time"},
		"bad nested time": {`{"v":1,"credential":"x","intent":{"generation":1,"started_at":"` + tok + `"}}`,
			"field intent.started_at"},
		"other name": {`{"v":1,"credential":"y","refresh_token":"` + tok + `"}`, `stored under "x" but names credential "y"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := jsonCodec{}.decode("x", []byte(tc.data))
			if err == nil {
				t.Fatal("decode succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), tok[:4]) {
				t.Errorf("error %q leaks stored content", err)
			}
		})
	}
}
