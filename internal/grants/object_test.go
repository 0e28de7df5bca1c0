package grants

import (
	"encoding/json"
	"reflect"
	"testing"
)

// decodeJSONMap is decodeJSON as it was before issue 17, through a
// map[string]json.RawMessage: the reference parseObject must agree with.
func decodeJSONMap(body []byte) (fields, bool) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return fields{}, false
	}
	f := fields{
		accessToken:  jsonString(m["access_token"]),
		tokenType:    jsonString(m["token_type"]),
		refreshToken: jsonString(m["refresh_token"]),
		scope:        jsonScope(m["scope"]),
		code:         jsonString(m["error"]),
		description:  jsonString(m["error_description"]),
	}
	f.issuedTokenType = jsonString(m["issued_token_type"])
	f.hasError = errorPresent(m["error"])
	f.expiresIn, f.hasExpiresIn = jsonSeconds(m["expires_in"])
	f.refreshExpiresIn, f.hasRefreshExpiresIn = jsonSeconds(m["refresh_token_expires_in"])
	if !f.hasRefreshExpiresIn {
		f.refreshExpiresIn, f.hasRefreshExpiresIn = jsonSeconds(m["x_refresh_token_expires_in"])
	}
	f.value = func(name string) (string, bool) { return jsonValue(m[name]) }
	if !f.hasError {
		var o object
		for k, v := range m {
			o = append(o, member{key: []byte(k), raw: v})
		}
		f.code, f.description, f.hasError = basiqError(o)
	}
	return f, true
}

// jsonStringRef is jsonString without its fast path.
func jsonStringRef(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

var objectCorpus = []string{
	okBody,
	`{}`, `null`, `[]`, `"x"`, `1`, ``, ` `, `{`, `{"a":}`, `{"a":1,}`, `{"a":1}x`,
	` { "access_token" : "a b" , "expires_in" : 3600 , "scope" : [ "r" , "w" ] } `,
	`{"access_token":"x","access_token":"y"}`,
	`{"access_token":"\u0061\"q","token_type":"b\\earer","refresh_token":"r\u00e9"}`,
	"{\"acc\\u0065ss_token\":\"k\",\"a\xffb\":\"v\",\"token_type\":\"\xff\"}",
	`{"error":"invalid_grant","error_description":"bad \"grant\"","access_token":"leak"}`,
	`{"error":false,"access_token":"a","expires_in":"60","x_refresh_token_expires_in":8726400}`,
	`{"error":{"nested":["}",{"]":"{"}]},"access_token":"a"}`,
	`{"type":"list","data":[{"type":"error","code":"invalid-grant","title":"t","detail":"d"}]}`,
	`{"access_token":"a","id_token":"eyJ.x.y","n":-1.5e3,"b":true,"z":null,"o":{"k":[1, 2]}}`,
	"{\"access_token\":\"a\",\n\t\"refresh_token_expires_in\" :\r 12}",
}

// checkDecodeAgrees fails when decodeJSON and the map-based reference read
// body differently.
func checkDecodeAgrees(t *testing.T, body []byte) {
	t.Helper()
	got, gotOK := decodeJSON(body)
	want, wantOK := decodeJSONMap(body)
	if gotOK != wantOK {
		t.Fatalf("%q: ok = %v; the map decode says %v", body, gotOK, wantOK)
	}
	if !gotOK {
		return
	}
	gv, wv := got.value, want.value
	got.value, want.value = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got  %+v\n want %+v", body, got, want)
	}
	var m map[string]json.RawMessage
	_ = json.Unmarshal(body, &m)
	names := []string{"id_token", "n", "b", "z", "o", "missing", "access_token", "a\ufffdb"}
	for k := range m {
		names = append(names, k)
	}
	for _, n := range names {
		g, gok := gv(n)
		w, wok := wv(n)
		if g != w || gok != wok {
			t.Fatalf("%q: value(%q) = %q, %v; the map decode says %q, %v", body, n, g, gok, w, wok)
		}
	}
}

func TestDecodeJSONMatchesMapDecode(t *testing.T) {
	for _, body := range objectCorpus {
		checkDecodeAgrees(t, []byte(body))
	}
}

func TestJSONStringFastPathMatches(t *testing.T) {
	for _, raw := range []string{`"abc"`, `""`, `"a\"b"`, `"\u00e9"`, "\"\xff\"", "\"a\tb\"", `"~ "`, `1`, `null`, `"`, `" "`, `"\/"`} {
		if got, want := jsonString(json.RawMessage(raw)), jsonStringRef(json.RawMessage(raw)); got != want {
			t.Errorf("jsonString(%q) = %q; encoding/json says %q", raw, got, want)
		}
	}
}

func FuzzDecodeJSONMatchesMapDecode(f *testing.F) {
	for _, body := range objectCorpus {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkDecodeAgrees(t, body) })
}

// BenchmarkDecodeJSON compares the token answer's decoding with the
// map-based reference in the same run.
func BenchmarkDecodeJSON(b *testing.B) {
	body := []byte(`{"access_token":"at_0123456789abcdef0123456789abcdef","token_type":"Bearer","expires_in":3600,` +
		`"refresh_token":"rt_0123456789abcdef0123456789abcdef","scope":"read"}`)
	for _, impl := range []struct {
		name   string
		decode func([]byte) (fields, bool)
	}{{"map", decodeJSONMap}, {"object", decodeJSON}} {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if f, ok := impl.decode(body); !ok || f.accessToken == "" {
					b.Fatal("not decoded")
				}
			}
		})
	}
}
