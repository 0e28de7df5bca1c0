package state

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/tokend/tokend/internal/secret"
)

// The record codec without reflection (issue 17: encoding/json was ~11 % of
// the daemon's CPU in a burst of rotations).
//
// appendRecord writes the very bytes json.Marshal(diskRecord) wrote: the
// struct's field order, its omitempty rules, encoding/json's string escaping
// (HTML characters, U+2028/U+2029, invalid UTF-8 as U+FFFD) and the map keys
// of extra sorted. parseFast reads only that form back, and only the part of
// it with no escape in any string; everything else is left to parseStrict.
// codec_ref_test.go holds the encoding/json codec this replaced and checks
// both directions against it (table and fuzz test).

// recordSizeHint is a length the encoding of rec fits in when none of its
// strings needs escaping: the keys of the fields it has, their values, and
// each time and number at its longest.
func recordSizeHint(rec Record) int {
	str := func(key int, v string) int {
		if v == "" {
			return 0
		}
		return key + 2 + len(v)
	}
	tm := func(key int, t time.Time) int {
		if t.IsZero() {
			return 0
		}
		return key + 2 + len("2006-01-02T15:04:05.999999999Z")
	}
	const maxUint = len("18446744073709551615")
	n := len(`{"v":1,"credential":""`) + len(rec.Credential) + len(`,"generation":`) + maxUint + len("}") +
		str(len(`,"refresh_token":`), rec.RefreshToken.Reveal()) + str(len(`,"access_token":`), rec.AccessToken.Reveal()) +
		str(len(`,"token_type":`), rec.TokenType) + str(len(`,"scope":`), rec.Scope) +
		str(len(`,"status":`), string(rec.Status)) +
		tm(len(`,"expires_at":`), rec.ExpiresAt) + tm(len(`,"issued_at":`), rec.IssuedAt) +
		tm(len(`,"last_success":`), rec.LastSuccess) +
		tm(len(`,"refresh_token_expires_at":`), rec.RefreshTokenExpiresAt) +
		tm(len(`,"refresh_token_issued_at":`), rec.RefreshTokenIssuedAt)
	if e := rec.LastError; e != nil {
		n += len(`,"last_error":{"class":""}`) + len(e.Class) + str(len(`,"code":`), e.Code) +
			str(len(`,"description":`), e.Description) + tm(len(`,"at":`), e.At)
	}
	if in := rec.Intent; in != nil {
		n += len(`,"intent":{"generation":}`) + maxUint + tm(len(`,"started_at":`), in.StartedAt)
	}
	if len(rec.Extra) > 0 {
		n += len(`,"extra":{}`)
		for k, v := range rec.Extra {
			n += len(`"":"",`) + len(k) + len(v.Reveal())
		}
	}
	return n
}

// appendRecord appends the JSON of rec's diskRecord to b. Its only error is
// a time RFC 3339 cannot represent, the same error encodeTime gives.
func appendRecord(b []byte, rec Record) ([]byte, error) {
	b = append(b, `{"v":1,"credential":`...)
	b = appendJSONString(b, rec.Credential)
	b = appendStringField(b, `,"refresh_token":`, rec.RefreshToken.Reveal())
	b = appendStringField(b, `,"access_token":`, rec.AccessToken.Reveal())
	b = appendStringField(b, `,"token_type":`, rec.TokenType)
	b = appendStringField(b, `,"scope":`, rec.Scope)
	ok := true
	b, ok = appendTimeField(b, ok, `,"expires_at":"`, rec.ExpiresAt)
	b, ok = appendTimeField(b, ok, `,"issued_at":"`, rec.IssuedAt)
	b = append(b, `,"generation":`...)
	b = strconv.AppendUint(b, rec.Generation, 10)
	b, ok = appendTimeField(b, ok, `,"last_success":"`, rec.LastSuccess)
	if e := rec.LastError; e != nil {
		b = append(b, `,"last_error":{"class":`...)
		b = appendJSONString(b, e.Class)
		b = appendStringField(b, `,"code":`, e.Code)
		b = appendStringField(b, `,"description":`, e.Description)
		b, ok = appendTimeField(b, ok, `,"at":"`, e.At)
		b = append(b, '}')
	}
	b = appendStringField(b, `,"status":`, string(rec.Status))
	if in := rec.Intent; in != nil {
		b = append(b, `,"intent":{"generation":`...)
		b = strconv.AppendUint(b, in.Generation, 10)
		b, ok = appendTimeField(b, ok, `,"started_at":"`, in.StartedAt)
		b = append(b, '}')
	}
	b, ok = appendTimeField(b, ok, `,"refresh_token_expires_at":"`, rec.RefreshTokenExpiresAt)
	b, ok = appendTimeField(b, ok, `,"refresh_token_issued_at":"`, rec.RefreshTokenIssuedAt)
	if !ok {
		return nil, timeError(rec)
	}
	if len(rec.Extra) > 0 {
		var buf [8]string
		keys := buf[:0]
		for k := range rec.Extra {
			keys = append(keys, k)
		}
		slices.Sort(keys) // encoding/json's order: strings.Compare of the keys
		b = append(b, `,"extra":{`...)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, rec.Extra[k].Reveal())
		}
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

// appendStringField appends key and the JSON string v, or nothing when v is
// empty (omitempty).
func appendStringField(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	return appendJSONString(append(b, key...), v)
}

// appendTimeField appends key (which ends in the value's opening quote) and
// t as encodeTime renders it, or nothing when t is zero. ok is false from
// the first time RFC 3339 cannot represent on (b is then garbage).
func appendTimeField(b []byte, ok bool, key string, t time.Time) ([]byte, bool) {
	if !ok || t.IsZero() {
		return b, ok
	}
	b, err := t.UTC().AppendText(append(b, key...))
	// An RFC 3339 time is digits, '-', ':', '.', 'T' and 'Z': nothing to escape.
	return append(b, '"'), err == nil
}

// timeError is encodeTime's error for the first of rec's times it refuses,
// in the order the encoding/json codec checked them.
func timeError(rec Record) error {
	type field struct {
		name string
		t    time.Time
	}
	fields := []field{
		{"expires_at", rec.ExpiresAt},
		{"issued_at", rec.IssuedAt},
		{"last_success", rec.LastSuccess},
		{"refresh_token_expires_at", rec.RefreshTokenExpiresAt},
		{"refresh_token_issued_at", rec.RefreshTokenIssuedAt},
	}
	if e := rec.LastError; e != nil {
		fields = append(fields, field{"last_error.at", e.At})
	}
	if in := rec.Intent; in != nil {
		fields = append(fields, field{"intent.started_at", in.StartedAt})
	}
	for _, f := range fields {
		if _, err := encodeTime(f.name, f.t); err != nil {
			return err
		}
	}
	return errors.New("a time of the record cannot be written as RFC 3339") // not reached: appendTimeField refused one
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as encoding/json writes a string with HTML
// escaping on (json.Marshal's default): \" \\ \b \f \n \r \t, other control
// characters and < > & as \u00XX, U+2028 and U+2029 as \u2028 and \u2029,
// each byte of invalid UTF-8 as \ufffd. (encoding/json's appendString.)
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// diskKeys are diskRecord's JSON keys in the order encode writes them.
var diskKeys = []string{"v", "credential", "refresh_token", "access_token", "token_type", "scope",
	"expires_at", "issued_at", "generation", "last_success", "last_error", "status", "intent",
	"refresh_token_expires_at", "refresh_token_issued_at", "extra"}

var (
	errorKeys  = []string{"class", "code", "description", "at"}
	intentKeys = []string{"generation", "started_at"}
)

// fastRecord is what parseFast reads: a diskRecord whose nested objects are
// values, not pointers, so that decode can keep it off the heap.
type fastRecord struct {
	disk                    diskRecord // LastError, Intent and Extra unused
	lastError               diskError
	intent                  diskIntent
	hasLastError, hasIntent bool
	extra                   map[string]secret.Secret
}

// parseFast fills r when data is in the form appendRecord writes: schema
// version 1 first, the other keys each at most once and in diskKeys order,
// no whitespace, numbers as plain digits, strings with no escape and valid
// UTF-8, nothing after the object. Such input parses to the same diskRecord
// with encoding/json. For anything else it returns false and r must be
// discarded: the caller then uses parseStrict, which accepts or refuses it
// as the codec always did.
//
// The strings of r share one copy of data (data may be bbolt's memory map,
// valid only during its transaction).
func parseFast(data []byte, r *fastRecord) bool {
	if len(data) < 2 || data[0] != '{' || data[len(data)-1] != '}' || bytes.IndexByte(data, '\\') >= 0 {
		return false
	}
	p := fastParser{s: string(data)}
	d := &r.disk
	ok := p.object(diskKeys, func(i int) bool {
		var ok bool
		switch i {
		case 0:
			d.V = schemaVersion
			var v uint64
			v, ok = p.uint()
			ok = ok && v == schemaVersion
		case 1:
			d.Credential, ok = p.str()
		case 2:
			d.RefreshToken, ok = p.str()
		case 3:
			d.AccessToken, ok = p.str()
		case 4:
			d.TokenType, ok = p.str()
		case 5:
			d.Scope, ok = p.str()
		case 6:
			d.ExpiresAt, ok = p.str()
		case 7:
			d.IssuedAt, ok = p.str()
		case 8:
			d.Generation, ok = p.uint()
		case 9:
			d.LastSuccess, ok = p.str()
		case 10:
			r.hasLastError = true
			ok = p.lastError(&r.lastError)
		case 11:
			d.Status, ok = p.str()
		case 12:
			r.hasIntent = true
			ok = p.intent(&r.intent)
		case 13:
			d.RefreshTokenExpiresAt, ok = p.str()
		case 14:
			d.RefreshTokenIssuedAt, ok = p.str()
		case 15:
			r.extra, ok = p.extra()
		}
		return ok
	})
	return ok && d.V == schemaVersion && p.i == len(p.s)
}

// fastParser reads s from i on; every method returns false, with i
// anywhere, for input outside parseFast's form.
type fastParser struct {
	s string
	i int
}

// lit consumes c if it is next.
func (p *fastParser) lit(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// object reads {"key":value,...} whose keys are among keys, each at most
// once and in that order; field(k) reads the value of keys[k]. {} is not in
// the form (encode never writes an empty object but extra's).
func (p *fastParser) object(keys []string, field func(k int) bool) bool {
	if !p.lit('{') {
		return false
	}
	next := 0
	for {
		key, ok := p.str()
		if !ok || !p.lit(':') {
			return false
		}
		k := next
		for k < len(keys) && keys[k] != key {
			k++
		}
		if k == len(keys) || !field(k) {
			return false
		}
		next = k + 1
		if p.lit('}') {
			return true
		}
		if !p.lit(',') {
			return false
		}
	}
}

// str reads a string without escapes and with valid UTF-8 (encoding/json
// would replace invalid bytes with U+FFFD).
func (p *fastParser) str() (string, bool) {
	if !p.lit('"') {
		return "", false
	}
	start, ascii := p.i, true
	for ; p.i < len(p.s); p.i++ {
		switch c := p.s[p.i]; {
		case c == '"':
			v := p.s[start:p.i]
			p.i++
			return v, ascii || utf8.ValidString(v)
		case c < 0x20 || c == '\\':
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", false
}

// uint reads a JSON number that is a uint64 as encoding/json parses it:
// digits without a leading zero; the caller checks what follows.
func (p *fastParser) uint() (uint64, bool) {
	start := p.i
	for p.i < len(p.s) && '0' <= p.s[p.i] && p.s[p.i] <= '9' {
		p.i++
	}
	digits := p.s[start:p.i]
	if digits == "" || len(digits) > 1 && digits[0] == '0' {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	return n, err == nil
}

// lastError reads diskError's object.
func (p *fastParser) lastError(e *diskError) bool {
	return p.object(errorKeys, func(k int) bool {
		var ok bool
		switch k {
		case 0:
			e.Class, ok = p.str()
		case 1:
			e.Code, ok = p.str()
		case 2:
			e.Description, ok = p.str()
		case 3:
			e.At, ok = p.str()
		}
		return ok
	})
}

// intent reads diskIntent's object.
func (p *fastParser) intent(in *diskIntent) bool {
	return p.object(intentKeys, func(k int) bool {
		var ok bool
		switch k {
		case 0:
			in.Generation, ok = p.uint()
		case 1:
			in.StartedAt, ok = p.str()
		}
		return ok
	})
}

// extra reads the extra object: string values under any keys, the last of
// a repeated key winning as with encoding/json; nil for {}.
func (p *fastParser) extra() (map[string]secret.Secret, bool) {
	if !p.lit('{') {
		return nil, false
	}
	if p.lit('}') {
		return nil, true
	}
	m := make(map[string]secret.Secret, 4)
	for {
		k, ok := p.str()
		if !ok || !p.lit(':') {
			return nil, false
		}
		v, ok := p.str()
		if !ok {
			return nil, false
		}
		m[k] = secret.New(v)
		if p.lit('}') {
			return m, true
		}
		if !p.lit(',') {
			return nil, false
		}
	}
}
