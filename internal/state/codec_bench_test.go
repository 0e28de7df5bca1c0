package state

import (
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/internal/secret"
)

// typicalRecord is a record as a refresh leaves it in the store while the
// next one is under way: 40-character tokens, a scope, every time set and an
// intent.
func typicalRecord(name string) Record {
	at := time.Date(2026, 12, 5, 14, 15, 41, 123456789, time.UTC)
	return Record{
		Credential:            name,
		RefreshToken:          secret.New("1//0gGq7Zz-9aXbYcWdVeUfTgShRiQjPkOlNm40"),
		AccessToken:           secret.New("ya29.a0AfB_byC3dE4fG5hI6jK7lM8nO9pQ0rS1t"),
		TokenType:             "Bearer",
		Scope:                 "openid email https://www.googleapis.com/auth/drive.readonly",
		ExpiresAt:             at.Add(time.Hour),
		IssuedAt:              at,
		Generation:            1234,
		LastSuccess:           at,
		Status:                StatusRefreshing,
		Intent:                &Intent{Generation: 1234, StartedAt: at.Add(50 * time.Minute)},
		RefreshTokenExpiresAt: at.Add(90 * 24 * time.Hour),
		RefreshTokenIssuedAt:  at,
	}
}

// extraRecord is typicalRecord with kept response fields: an id_token (a
// JWT of some 900 characters) and an instance URL.
func extraRecord(name string) Record {
	rec := typicalRecord(name)
	rec.Extra = map[string]secret.Secret{
		"id_token":     secret.New("eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ." + strings.Repeat("eyJzdWIiOiIxMjM0NTY3ODkwIn0", 24) + ".c2lnbmF0dXJl"),
		"instance_url": secret.New("https://example.my.salesforce.com"),
	}
	return rec
}

// benchRecords are the records the codec benchmarks run on.
var benchRecords = []struct {
	name string
	rec  Record
}{
	{"typical", typicalRecord("cred-0001")},
	{"extra", extraRecord("cred-0001")},
}

// benchCodecs pits the codec against the encoding/json one it replaced, in
// the same run (compare the impl=reference and impl=new lines).
var benchCodecs = []struct {
	name string
	c    codec
}{
	{"impl=reference", referenceCodec{}},
	{"impl=new", jsonCodec{}},
}

// BenchmarkRecordEncode measures encoding one record.
//
//	go test -run '^$' -bench 'BenchmarkRecord' -benchmem ./internal/state/
func BenchmarkRecordEncode(b *testing.B) {
	for _, r := range benchRecords {
		for _, c := range benchCodecs {
			b.Run(r.name+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := c.c.encode(r.rec); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkRecordDecode measures decoding one record that tokend wrote.
func BenchmarkRecordDecode(b *testing.B) {
	for _, r := range benchRecords {
		data, err := jsonCodec{}.encode(r.rec)
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range benchCodecs {
			b.Run(r.name+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := c.c.decode(r.rec.Credential, data); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkRecordSaveLoad measures a Save and a Load through the FileStore
// with each codec. The commit's fsync is off (db.NoSync) so that the CPU
// the codec costs shows; with it on, the disk dominates.
func BenchmarkRecordSaveLoad(b *testing.B) {
	for _, r := range benchRecords {
		for _, c := range benchCodecs {
			b.Run(r.name+"/"+c.name, func(b *testing.B) {
				s := openTemp(b, Options{})
				s.db.NoSync = true
				s.codec = c.c
				rec := r.rec
				b.ReportAllocs()
				for b.Loop() {
					rec.Generation++
					if err := s.Save(b.Context(), rec); err != nil {
						b.Fatal(err)
					}
					if _, err := s.Load(b.Context(), rec.Credential); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
