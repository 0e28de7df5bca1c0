package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/secret"
)

// referenceCodec is the record codec as it was before the reflection-free
// one (codec_fast.go), kept verbatim as the definition of the on-disk format:
// jsonCodec must write the same bytes and read every input to the same
// Record or the same error.
type referenceCodec struct{}

func (referenceCodec) encode(rec Record) ([]byte, error) {
	d := diskRecord{
		V:            schemaVersion,
		Credential:   rec.Credential,
		RefreshToken: rec.RefreshToken.Reveal(),
		AccessToken:  rec.AccessToken.Reveal(),
		TokenType:    rec.TokenType,
		Scope:        rec.Scope,
		Generation:   rec.Generation,
		Status:       string(rec.Status),
	}
	var err error
	if d.ExpiresAt, err = encodeTime("expires_at", rec.ExpiresAt); err != nil {
		return nil, err
	}
	if d.IssuedAt, err = encodeTime("issued_at", rec.IssuedAt); err != nil {
		return nil, err
	}
	if d.LastSuccess, err = encodeTime("last_success", rec.LastSuccess); err != nil {
		return nil, err
	}
	if d.RefreshTokenExpiresAt, err = encodeTime("refresh_token_expires_at", rec.RefreshTokenExpiresAt); err != nil {
		return nil, err
	}
	if d.RefreshTokenIssuedAt, err = encodeTime("refresh_token_issued_at", rec.RefreshTokenIssuedAt); err != nil {
		return nil, err
	}
	for k, v := range rec.Extra {
		if d.Extra == nil {
			d.Extra = make(map[string]string, len(rec.Extra))
		}
		d.Extra[k] = v.Reveal()
	}
	if e := rec.LastError; e != nil {
		d.LastError = &diskError{Class: e.Class, Code: e.Code, Description: e.Description}
		if d.LastError.At, err = encodeTime("last_error.at", e.At); err != nil {
			return nil, err
		}
	}
	if in := rec.Intent; in != nil {
		d.Intent = &diskIntent{Generation: in.Generation}
		if d.Intent.StartedAt, err = encodeTime("intent.started_at", in.StartedAt); err != nil {
			return nil, err
		}
	}
	return json.Marshal(d)
}

func (referenceCodec) decode(name string, data []byte) (Record, error) {
	var probe struct {
		V int `json:"v"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return Record{}, safeJSONError(err)
	}
	switch {
	case probe.V > schemaVersion:
		return Record{}, fmt.Errorf("record has schema version %d but this tokend understands only up to %d (written by a newer tokend?)",
			probe.V, schemaVersion)
	case probe.V < 1:
		return Record{}, fmt.Errorf("record has invalid schema version %d", probe.V)
	}

	var d diskRecord
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return Record{}, safeJSONError(err)
	}
	if d.Credential != name {
		return Record{}, fmt.Errorf("record is stored under %q but names credential %q", name, d.Credential)
	}

	rec := Record{
		Credential:   d.Credential,
		RefreshToken: secret.New(d.RefreshToken),
		AccessToken:  secret.New(d.AccessToken),
		TokenType:    d.TokenType,
		Scope:        d.Scope,
		Generation:   d.Generation,
		Status:       Status(d.Status),
	}
	var err error
	if rec.ExpiresAt, err = decodeTime("expires_at", d.ExpiresAt); err != nil {
		return Record{}, err
	}
	if rec.IssuedAt, err = decodeTime("issued_at", d.IssuedAt); err != nil {
		return Record{}, err
	}
	if rec.LastSuccess, err = decodeTime("last_success", d.LastSuccess); err != nil {
		return Record{}, err
	}
	if rec.RefreshTokenExpiresAt, err = decodeTime("refresh_token_expires_at", d.RefreshTokenExpiresAt); err != nil {
		return Record{}, err
	}
	if rec.RefreshTokenIssuedAt, err = decodeTime("refresh_token_issued_at", d.RefreshTokenIssuedAt); err != nil {
		return Record{}, err
	}
	for k, v := range d.Extra {
		if rec.Extra == nil {
			rec.Extra = make(map[string]secret.Secret, len(d.Extra))
		}
		rec.Extra[k] = secret.New(v)
	}
	if e := d.LastError; e != nil {
		rec.LastError = &ErrorInfo{Class: e.Class, Code: e.Code, Description: e.Description}
		if rec.LastError.At, err = decodeTime("last_error.at", e.At); err != nil {
			return Record{}, err
		}
	}
	if in := d.Intent; in != nil {
		rec.Intent = &Intent{Generation: in.Generation}
		if rec.Intent.StartedAt, err = decodeTime("intent.started_at", in.StartedAt); err != nil {
			return Record{}, err
		}
	}
	return rec, nil
}

// checkEncodeMatches fails unless jsonCodec and referenceCodec encode rec
// to the same bytes (or the same error), and both decode those bytes alike.
func checkEncodeMatches(t *testing.T, rec Record) {
	t.Helper()
	got, gotErr := jsonCodec{}.encode(rec)
	want, wantErr := referenceCodec{}.encode(rec)
	if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Fatalf("encode error = %v, reference %v", gotErr, wantErr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encode differs from the reference:\n got %q\nwant %q", got, want)
	}
	if gotErr == nil {
		checkDecodeMatches(t, rec.Credential, got)
	}
}

// checkDecodeMatches fails unless jsonCodec and referenceCodec decode data
// under name to deeply equal Records or to errors with the same text.
func checkDecodeMatches(t *testing.T, name string, data []byte) {
	t.Helper()
	got, gotErr := jsonCodec{}.decode(name, data)
	want, wantErr := referenceCodec{}.decode(name, data)
	if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Fatalf("decode of %q: error = %v, reference %v", data, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decode of %q differs from the reference:\n got %#v\nwant %#v", data, got, want)
	}
}

// awkward holds strings encoding/json escapes or mangles.
var awkward = []string{
	"", "plain", "<script>&amp;</script>", "\u2028\u2029", "quote\" back\\slash /",
	"\x00\x01\x08\x09\x0a\x0c\x0d\x1f\x7f", "bad utf-8 \xff\xfe", "cut \xe2\x80", "surrogate \xed\xa0\x80",
	"é ☃ 😀", "\ufffd", "\u00e9\u0301",
}

func TestCodecEncodeMatchesReference(t *testing.T) {
	at := time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.FixedZone("X", -7*3600-1800))
	manyExtra := map[string]secret.Secret{}
	for i := range 20 {
		manyExtra[fmt.Sprintf("k%02d", 19-i)] = secret.New(fmt.Sprint(i))
	}
	awkwardExtra := map[string]secret.Secret{}
	for i, s := range awkward {
		awkwardExtra[s] = secret.New(awkward[(i+1)%len(awkward)])
	}
	cases := map[string]Record{
		"zero":          {},
		"full":          fullRecord("full"),
		"typical":       typicalRecord("typical"),
		"with extra":    extraRecord("extra"),
		"empty nested":  {Credential: "x", LastError: &ErrorInfo{}, Intent: &Intent{}},
		"empty extra":   {Credential: "x", Extra: map[string]secret.Secret{}},
		"many extra":    {Credential: "x", Extra: manyExtra},
		"awkward extra": {Credential: "x", Extra: awkwardExtra},
		"max numbers": {Credential: "x", Generation: ^uint64(0),
			Intent: &Intent{Generation: ^uint64(0)}},
		"times": {Credential: "x", ExpiresAt: time.Now(), IssuedAt: at, LastSuccess: at.Truncate(time.Second),
			RefreshTokenExpiresAt: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
			RefreshTokenIssuedAt:  time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
			LastError:             &ErrorInfo{At: at.Local()}, Intent: &Intent{StartedAt: time.Unix(0, 1)}},
		"year 10000": {Credential: "x", ExpiresAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		"year -1":    {Credential: "x", LastSuccess: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)},
		"zone pushes past 9999": {Credential: "x",
			IssuedAt: time.Date(9999, 12, 31, 23, 0, 0, 0, time.FixedZone("", -3600))},
		"two bad times, reference order": {Credential: "x",
			Intent:               &Intent{StartedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
			RefreshTokenIssuedAt: time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC)},
		"bad nested times": {Credential: "x",
			LastError: &ErrorInfo{At: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
			Intent:    &Intent{StartedAt: time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC)}},
	}
	for i, s := range awkward {
		cases[fmt.Sprintf("awkward %d", i)] = Record{Credential: s, RefreshToken: secret.New(s),
			AccessToken: secret.New(s), TokenType: s, Scope: s, Status: Status(s),
			LastError: &ErrorInfo{Class: s, Code: s, Description: s}}
	}
	for name, rec := range cases {
		t.Run(name, func(t *testing.T) { checkEncodeMatches(t, rec) })
	}
}

// decodeEdgeCases are inputs off the fast path, or at its edge, for name "x".
var decodeEdgeCases = []string{
	``, ` `, `{}`, `[]`, `null`, `1`, `"x"`, `{"v":1}`, `{"v":1,"credential":"x"}`,
	`{"v":1,"credential":"x","generation":0}`,
	` {"v":1,"credential":"x"}`, `{"v":1,"credential":"x"} `, `{"v":1,"credential":"x"}x`,
	`{"v":1,"credential":"x"}{}`, "\ufeff" + `{"v":1,"credential":"x"}`, `{ "v":1,"credential":"x"}`,
	`{"v" :1,"credential":"x"}`, `{"v":1 ,"credential":"x"}`, `{"v":1,"credential":"x",}`,
	`{"credential":"x","v":1}`, `{"v":1,"v":1,"credential":"x"}`, `{"v":1,"credential":"x","credential":"x"}`,
	`{"V":1,"credential":"x"}`, `{"v":1,"Credential":"x"}`, `{"v":1,"CREDENTIAL":"x"}`,
	`{"v":1,"credential":"\u0078"}`, `{"v":1,"credential":"x","scope":"a\/b"}`,
	`{"v":1,"credential":"x","scope":"a\u003cb"}`, `{"v":1,"credential":"x","scope":"\ud800"}`,
	`{"v":1,"credential":"x","scope":"` + "\xff" + `"}`, `{"v":1,"credential":"x","scope":"` + "\x01" + `"}`,
	`{"v":1,"credential":"x","scope":"` + "\x7f" + `"}`, `{"v":1,"credential":"x","scope":"é"}`,
	`{"v":1,"credential":"x","scope":null}`, `{"v":1,"credential":"x","scope":1}`,
	`{"v":1,"credential":"x","scope":""}`, `{"v":1,"credential":null}`,
	`{"v":0,"credential":"x"}`, `{"v":2,"credential":"x"}`, `{"v":-1,"credential":"x"}`,
	`{"v":01,"credential":"x"}`, `{"v":1.0,"credential":"x"}`, `{"v":1e0,"credential":"x"}`,
	`{"v":10,"credential":"x"}`, `{"v":"1","credential":"x"}`, `{"v":null,"credential":"x"}`,
	`{"v":99999999999999999999,"credential":"x"}`,
	`{"v":1,"credential":"x","generation":18446744073709551615}`,
	`{"v":1,"credential":"x","generation":18446744073709551616}`,
	`{"v":1,"credential":"x","generation":-1}`, `{"v":1,"credential":"x","generation":00}`,
	`{"v":1,"credential":"x","generation":1.5}`, `{"v":1,"credential":"x","generation":2e3}`,
	`{"v":1,"credential":"x","generation":"1"}`, `{"v":1,"credential":"x","generation":null}`,
	`{"v":1,"credential":"x","last_error":{}}`, `{"v":1,"credential":"x","last_error":null}`,
	`{"v":1,"credential":"x","last_error":{"class":"c","at":"2025-01-01T00:00:00Z"}}`,
	`{"v":1,"credential":"x","last_error":{"at":"2025-01-01T00:00:00Z","class":"c"}}`,
	`{"v":1,"credential":"x","last_error":{"class":"c","class":"d"}}`,
	`{"v":1,"credential":"x","last_error":{"class":"c","bogus":"d"}}`,
	`{"v":1,"credential":"x","last_error":{"class":"c","at":"yesterday"}}`,
	`{"v":1,"credential":"x","last_error":"c"}`,
	`{"v":1,"credential":"x","intent":{}}`, `{"v":1,"credential":"x","intent":{"generation":3}}`,
	`{"v":1,"credential":"x","intent":{"started_at":"2025-01-01T00:00:00Z"}}`,
	`{"v":1,"credential":"x","intent":{"generation":3,"started_at":"2025-01-01T00:00:00+01:00"}}`,
	`{"v":1,"credential":"x","intent":{"generation":3,"started_at":""}}`,
	`{"v":1,"credential":"x","extra":{}}`, `{"v":1,"credential":"x","extra":null}`,
	`{"v":1,"credential":"x","extra":{"a":"1","a":"2"}}`, `{"v":1,"credential":"x","extra":{"b":"1","a":"2"}}`,
	`{"v":1,"credential":"x","extra":{"a":1}}`, `{"v":1,"credential":"x","extra":{"a":null}}`,
	`{"v":1,"credential":"x","extra":{"":""}}`, `{"v":1,"credential":"x","extra":{"a":"1",}}`,
	`{"v":1,"credential":"x","extra":[]}`,
	`{"v":1,"credential":"x","expires_at":"2025-01-01T00:00:00Z"}`,
	`{"v":1,"credential":"x","expires_at":"2025-01-01T00:00:00.5-07:30"}`,
	`{"v":1,"credential":"x","expires_at":"2025-01-01 00:00:00Z"}`,
	`{"v":1,"credential":"x","expires_at":"2025-13-01T00:00:00Z"}`,
	`{"v":1,"credential":"x","expires_at":""}`,
	`{"v":1,"credential":"x","issued_at":"bad","expires_at":"bad"}`,
	`{"v":1,"credential":"x","refresh_token_issued_at":"bad","last_success":"bad"}`,
	`{"v":1,"credential":"y","expires_at":"bad"}`, `{"v":1,"credential":"y","bogus":1}`,
	`{"v":1,"credential":"x","bogus":1}`, `{"v":1,"credential":"x","status":"ok","scope":"s"}`,
	`{"v":1,"credential":"x","refresh_token":"a"` + strings.Repeat(" ", 3) + `}`,
	`{"v":1,"credential":"x","refresh_token":"a`, `{"v":1,"credential":"x","refresh_token":`,
	`{"v":1,"credential":"x",`, `{"v":1,`, `{"v":`, `{"v"`, `{"`, `{`,
}

func TestCodecDecodeMatchesReference(t *testing.T) {
	for i, in := range decodeEdgeCases {
		t.Run(fmt.Sprint(i), func(t *testing.T) { checkDecodeMatches(t, "x", []byte(in)) })
	}
	for _, rec := range []Record{fullRecord("x"), typicalRecord("x"), extraRecord("x")} {
		data, err := referenceCodec{}.encode(rec)
		if err != nil {
			t.Fatal(err)
		}
		for n := range len(data) + 1 { // every truncation, and the whole record
			checkDecodeMatches(t, "x", data[:n])
		}
		checkDecodeMatches(t, "other", data)
		checkDecodeMatches(t, "x", append(data, '\n'))
	}
}

// FuzzCodecEncodeMatchesReference builds records from arbitrary strings,
// numbers and times (years far outside 0-9999 included) and checks that the
// codec writes what the encoding/json one wrote.
func FuzzCodecEncodeMatchesReference(f *testing.F) {
	f.Add("x", "rt", "at", "Bearer", "read write", "ok", "transient", "code", "desc", "k", "v", uint64(42),
		int64(1741064767), int64(123456789), uint8(0xff))
	f.Add("", "", "", "", "", "", "", "", "", "", "", uint64(0), int64(0), int64(0), uint8(0))
	for i, s := range awkward {
		f.Add(s, s, s, s, s, s, s, s, s, s, awkward[(i+1)%len(awkward)], ^uint64(0),
			int64(253402300800+int64(i)*86400*400), int64(-i), uint8(i*37))
	}
	f.Add("x", "r", "a", "t", "s", "st", "c", "co", "d", "k", "v", uint64(1), int64(-62135596800-1), int64(999999999), uint8(0x80))
	f.Fuzz(func(t *testing.T, cred, rt, at, typ, scope, status, class, code, desc, k, v string,
		gen uint64, sec, nsec int64, flags uint8) {
		tm := func(bit uint8, offset int64) time.Time {
			if flags&bit == 0 {
				return time.Time{}
			}
			return time.Unix(sec+offset, nsec).In(time.FixedZone("", int(offset%50000)))
		}
		rec := Record{Credential: cred, RefreshToken: secret.New(rt), AccessToken: secret.New(at),
			TokenType: typ, Scope: scope, Status: Status(status), Generation: gen,
			ExpiresAt: tm(1, 0), IssuedAt: tm(2, -3600), LastSuccess: tm(4, 7),
			RefreshTokenExpiresAt: tm(8, 86400*365), RefreshTokenIssuedAt: tm(16, -86400)}
		if flags&32 != 0 {
			rec.LastError = &ErrorInfo{Class: class, Code: code, Description: desc, At: tm(32, 11)}
		}
		if flags&64 != 0 {
			rec.Intent = &Intent{Generation: gen ^ uint64(nsec), StartedAt: tm(64, 13)}
		}
		if flags&128 != 0 {
			rec.Extra = map[string]secret.Secret{k: secret.New(v), v: secret.New(k), "id_token": secret.New(desc)}
		}
		checkEncodeMatches(t, rec)
	})
}

// FuzzCodecDecodeMatchesReference checks that the codec reads arbitrary
// bytes as the encoding/json one did: the same Record or the same error.
func FuzzCodecDecodeMatchesReference(f *testing.F) {
	for _, in := range decodeEdgeCases {
		f.Add("x", []byte(in))
	}
	for _, rec := range []Record{fullRecord("x"), typicalRecord("x"), extraRecord("x"),
		{Credential: "x", Scope: "<&>\u2028", Extra: map[string]secret.Secret{"a\xff": secret.New("\x00")}}} {
		data, err := referenceCodec{}.encode(rec)
		if err != nil {
			f.Fatal(err)
		}
		f.Add("x", data)
	}
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		checkDecodeMatches(t, name, data)
	})
}

// TestCodecFastPathTakesOwnRecords: what encode writes without escapes is
// read by parseFast (not only by the encoding/json fallback), and input
// with an escape or out of order is left to the fallback.
func TestCodecFastPathTakesOwnRecords(t *testing.T) {
	empty := Record{Credential: "x", LastError: &ErrorInfo{}, Intent: &Intent{}, Extra: map[string]secret.Secret{"": {}}}
	for _, rec := range []Record{fullRecord("x"), typicalRecord("x"), extraRecord("x"), {Credential: "x"}, empty} {
		data, err := jsonCodec{}.encode(rec)
		if err != nil {
			t.Fatal(err)
		}
		if !parseFast(data, new(fastRecord)) {
			t.Errorf("parseFast refused %q", data)
		}
	}
	for _, in := range []string{`{"v":1,"credential":"a\u003cb"}`, `{"credential":"x","v":1}`, `{"v":1,"credential":"x"} `} {
		if parseFast([]byte(in), new(fastRecord)) {
			t.Errorf("parseFast accepted %q", in)
		}
	}
}

// TestCodecSizeHint: the buffer encode allocates holds a record without
// escapes, so encoding is one allocation.
func TestCodecSizeHint(t *testing.T) {
	longest := time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.UTC)
	full := fullRecord("x")
	full.ExpiresAt, full.IssuedAt, full.LastSuccess, full.LastError.At = longest, longest, longest, longest
	full.Intent.StartedAt, full.RefreshTokenExpiresAt, full.RefreshTokenIssuedAt = longest, longest, longest
	full.Generation, full.Intent.Generation = ^uint64(0), ^uint64(0)
	full.Extra["id_token"] = secret.New("eyJ")
	for _, rec := range []Record{full, typicalRecord("x"), extraRecord("x"), {}, {Credential: "x", Extra: map[string]secret.Secret{"": {}}}} {
		data, err := jsonCodec{}.encode(rec)
		if err != nil {
			t.Fatal(err)
		}
		if hint := recordSizeHint(rec); len(data) > hint || hint > len(data)+64 {
			t.Errorf("size hint %d for a record of %d bytes: %s", hint, len(data), data)
		}
	}
}
