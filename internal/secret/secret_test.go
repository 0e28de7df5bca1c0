package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestSecretNeverPrints(t *testing.T) {
	const plain = "hunter2-very-secret"
	s := New(plain)
	for _, verb := range []string{"%s", "%v", "%+v", "%#v", "%q", "%x", "%X", "%d"} {
		if out := fmt.Sprintf(verb, s); strings.Contains(out, plain) || strings.Contains(out, fmt.Sprintf("%x", plain)) {
			t.Errorf("%s printed the value: %q", verb, out)
		}
	}
	wrapped := struct{ Token Secret }{s}
	if out := fmt.Sprintf("%+v", wrapped); strings.Contains(out, plain) {
		t.Errorf("struct printing leaked: %q", out)
	}
	js, _ := json.Marshal(wrapped)
	if bytes.Contains(js, []byte(plain)) {
		t.Errorf("json leaked: %s", js)
	}
	var buf bytes.Buffer
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&buf), zap.DebugLevel)
	log := zap.New(core)
	log.Info("x", zap.Any("any", s), zap.Stringer("str", s), zap.Object("obj", s), zap.Any("wrapped", wrapped))
	_ = log.Sync()
	if strings.Contains(buf.String(), plain) {
		t.Errorf("zap leaked: %s", buf.String())
	}
	if !strings.Contains(buf.String(), s.Fingerprint()) {
		t.Errorf("zap.Object should log the fingerprint: %s", buf.String())
	}
	if s.Reveal() != plain {
		t.Fatalf("Reveal = %q", s.Reveal())
	}
}

func TestFingerprint(t *testing.T) {
	a, b := New("a"), New("b")
	if a.Fingerprint() == b.Fingerprint() || len(a.Fingerprint()) != 8 {
		t.Fatalf("fingerprints %q %q", a.Fingerprint(), b.Fingerprint())
	}
	if New("").Fingerprint() != "none" || !New("").IsZero() || New("x").IsZero() {
		t.Fatal("zero handling")
	}
	if !a.Equal(New("a")) || a.Equal(b) {
		t.Fatal("Equal")
	}
}
