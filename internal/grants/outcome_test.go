package grants

import "testing"

func TestOutcomeKnown(t *testing.T) {
	for _, c := range []struct {
		e    Error
		want bool
	}{
		{Error{Code: CodeNetwork}, false},                      // no answer at all
		{Error{Status: 200, Code: CodeNetwork}, false},         // 200, body never arrived
		{Error{Status: 204, Code: CodeNetwork}, false},         // any 2xx
		{Error{Status: 200, Code: CodeInvalidResponse}, true},  // body read, not a token
		{Error{Status: 200, Code: "invalid_grant"}, true},      // 200 with an error body
		{Error{Status: 503, Code: CodeNetwork}, true},          // a refusal, even without its body
		{Error{Status: 400, Code: "invalid_grant"}, true},      // an error body
		{Error{Status: 200, Code: CodeResponseTooLarge}, true}, // read (and refused) in full
	} {
		if got := c.e.OutcomeKnown(); got != c.want {
			t.Errorf("%+v: OutcomeKnown = %v, want %v", c.e, got, c.want)
		}
	}
}
