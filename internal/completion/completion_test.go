package completion

import (
	"strings"
	"testing"
)

func TestScripts(t *testing.T) {
	cmds := []Command{{Name: "run", Summary: "run the daemon", Flags: []string{"--config", "-c"}},
		{Name: "store", Summary: "the store", Words: []string{"check", "backup"}}}
	for _, sh := range Shells {
		s, err := Script(sh, cmds)
		if err != nil || !strings.Contains(s, "run") || !strings.Contains(s, "store") || !strings.Contains(s, "check backup") || !strings.Contains(s, "config") {
			t.Errorf("%s: %v\n%s", sh, err, s)
		}
	}
	fish, _ := Script("fish", cmds)
	for _, want := range []string{"-n '__fish_seen_subcommand_from run' -l config", "-n '__fish_seen_subcommand_from run' -s c", `-a run -d "run the daemon"`} {
		if !strings.Contains(fish, want) {
			t.Errorf("fish script lacks %q:\n%s", want, fish)
		}
	}
	if _, err := Script("tcsh", cmds); err == nil {
		t.Error("tcsh accepted")
	}
}
