package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tokend/tokend/internal/secret"
)

// schemaVersion is the on-disk record format written by this build. Any
// change to diskRecord that an older tokend would misread must bump it.
// Optional fields added later (refresh_token_expires_at, _issued_at, extra) are omitted
// when unused, so such a record is byte for byte what older builds wrote;
// an older build refuses a record that uses them ("unexpected field")
// rather than misreading it.
const schemaVersion = 1

// codec turns a Record into the bytes stored under its name and back.
//
// It is the seam for an optional encryption layer: an encrypting codec can
// wrap jsonCodec (seal the bytes after encode, open them before decode)
// without the FileStore changing. Implementations must be safe for concurrent use
// and must never put secret material in an error.
type codec interface {
	encode(rec Record) ([]byte, error)
	// decode parses the bytes stored under name. Errors need not repeat the
	// name; the FileStore adds it.
	decode(name string, data []byte) (Record, error)
}

// jsonCodec stores a record as the JSON of diskRecord.
type jsonCodec struct{}

// diskRecord is the version-1 on-disk form of a Record. Secrets are plain
// strings here and only here: this struct never leaves the package and its
// bytes are never logged. Its JSON (json.Marshal's) is the format; the codec
// writes and reads it by hand (codec_fast.go), so a field added here must be
// added there too: codec_ref_test.go compares the two.
type diskRecord struct {
	V            int         `json:"v"`
	Credential   string      `json:"credential"`
	RefreshToken string      `json:"refresh_token,omitempty"`
	AccessToken  string      `json:"access_token,omitempty"`
	TokenType    string      `json:"token_type,omitempty"`
	Scope        string      `json:"scope,omitempty"`
	ExpiresAt    string      `json:"expires_at,omitempty"`
	IssuedAt     string      `json:"issued_at,omitempty"`
	Generation   uint64      `json:"generation"`
	LastSuccess  string      `json:"last_success,omitempty"`
	LastError    *diskError  `json:"last_error,omitempty"`
	Status       string      `json:"status,omitempty"`
	Intent       *diskIntent `json:"intent,omitempty"`
	// RefreshTokenExpiresAt and Extra are optional (see schemaVersion).
	RefreshTokenExpiresAt string            `json:"refresh_token_expires_at,omitempty"`
	RefreshTokenIssuedAt  string            `json:"refresh_token_issued_at,omitempty"`
	Extra                 map[string]string `json:"extra,omitempty"`
}

// diskError is the on-disk form of ErrorInfo.
type diskError struct {
	Class       string `json:"class"`
	Code        string `json:"code,omitempty"`
	Description string `json:"description,omitempty"`
	At          string `json:"at,omitempty"`
}

// diskIntent is the on-disk form of Intent.
type diskIntent struct {
	Generation uint64 `json:"generation"`
	StartedAt  string `json:"started_at,omitempty"`
}

// encode implements codec. It writes exactly the bytes json.Marshal of
// diskRecord wrote (see appendRecord): older builds and `tokend store dump`
// read them unchanged.
func (jsonCodec) encode(rec Record) ([]byte, error) {
	return appendRecord(make([]byte, 0, recordSizeHint(rec)), rec)
}

// decode implements codec. It refuses records written by a newer schema and
// fields it does not know (re-saving would silently drop them), and it never
// echoes stored bytes in an error: they may hold a token.
//
// Two parsers, one result: parseFast reads the form encode writes (fields in
// order, no whitespace, strings without escapes) without reflection; anything
// else, every error included, goes to parseStrict, the encoding/json decoder
// with every refusal and error text the codec has always had. parseFast only
// accepts input parseStrict would parse to the same diskRecord, so which one
// ran never shows (codec_ref_test.go checks this against the old codec).
func (jsonCodec) decode(name string, data []byte) (Record, error) {
	var f fastRecord
	if parseFast(data, &f) {
		var le *diskError
		if f.hasLastError {
			le = &f.lastError
		}
		var in *diskIntent
		if f.hasIntent {
			in = &f.intent
		}
		return f.disk.record(name, f.extra, le, in)
	}
	d, err := parseStrict(data)
	if err != nil {
		return Record{}, err
	}
	var extra map[string]secret.Secret
	for k, v := range d.Extra {
		if extra == nil {
			extra = make(map[string]secret.Secret, len(d.Extra))
		}
		extra[k] = secret.New(v)
	}
	return d.record(name, extra, d.LastError, d.Intent)
}

// parseStrict decodes data with encoding/json: schema version 1 only, no
// unknown field, no trailing data.
func parseStrict(data []byte) (diskRecord, error) {
	// Unmarshal also rejects trailing data after the object.
	var probe struct {
		V int `json:"v"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return diskRecord{}, safeJSONError(err)
	}
	switch {
	case probe.V > schemaVersion:
		return diskRecord{}, fmt.Errorf("record has schema version %d but this tokend understands only up to %d (written by a newer tokend?)",
			probe.V, schemaVersion)
	case probe.V < 1:
		return diskRecord{}, fmt.Errorf("record has invalid schema version %d", probe.V)
	}

	var d diskRecord
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return diskRecord{}, safeJSONError(err)
	}
	return d, nil
}

// record is the Record d stores for the credential name, with extra as its
// Extra and le and in as its last error and intent (d.Extra, d.LastError and
// d.Intent are not read). It checks the name and parses the times.
func (d *diskRecord) record(name string, extra map[string]secret.Secret, le *diskError, in *diskIntent) (Record, error) {
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
		Extra:        extra,
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
	if e := le; e != nil {
		rec.LastError = &ErrorInfo{Class: e.Class, Code: e.Code, Description: e.Description}
		if rec.LastError.At, err = decodeTime("last_error.at", e.At); err != nil {
			return Record{}, err
		}
	}
	if in != nil {
		rec.Intent = &Intent{Generation: in.Generation}
		if rec.Intent.StartedAt, err = decodeTime("intent.started_at", in.StartedAt); err != nil {
			return Record{}, err
		}
	}
	return rec, nil
}

// encodeTime renders t in UTC as RFC 3339 with nanoseconds; the zero time is
// "" (omitted). Times that RFC 3339 cannot represent (years outside
// 0000-9999) are an error at Save rather than an unreadable record at Load.
func encodeTime(field string, t time.Time) (string, error) {
	if t.IsZero() {
		return "", nil
	}
	b, err := t.UTC().MarshalText()
	if err != nil {
		return "", fmt.Errorf("field %s: %w", field, err)
	}
	return string(b), nil
}

// decodeTime parses what encodeTime wrote; "" is the zero time.
func decodeTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("field %s is not an RFC 3339 time", field)
	}
	return t, nil
}

// safeJSONError describes a decoding failure without quoting the input:
// encoding/json's syntax errors include a character of it, which could be
// part of a token.
func safeJSONError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("malformed record: invalid JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Errorf("malformed record: field %q has the wrong type", typ.Field)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("malformed record: truncated JSON")
	default:
		// Mostly "unknown field": its message quotes a key, and a corrupted
		// record can turn a token into a key, so say it without the name.
		return errors.New("malformed record: unexpected field or content for schema version 1")
	}
}
