package main

import (
	"bytes"
	"fmt"
	"io"
	"regexp"

	"github.com/tokend/tokend/internal/completion"
)

// flagLine matches a flag in a command's -h output (flag.PrintDefaults).
var flagLine = regexp.MustCompile(`(?m)^  -([A-Za-z0-9-]+)`)

func cmdCompletion(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("completion", "completion bash|zsh|fish", stdout, stderr)
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "tokend completion: name one shell: bash, zsh or fish\n")
		return 2
	}
	script, err := completion.Script(fs.Arg(0), completionCommands())
	if err != nil {
		fmt.Fprintf(stderr, "tokend completion: %v\n", err)
		return 2
	}
	fmt.Fprint(stdout, script)
	return 0
}

// completionCommands lists every command with the flags its -h shows, so
// the scripts follow the flags as they are defined.
func completionCommands() []completion.Command {
	var out []completion.Command
	for _, c := range commands() {
		cc := completion.Command{Name: c.name, Summary: c.summary}
		help := []string{"-h"}
		switch c.name {
		case "store":
			cc.Words = []string{"check", "backup", "restore"}
			help = []string{"check", "-h"}
		case "completion":
			cc.Words = completion.Shells
		}
		var buf bytes.Buffer
		c.run(help, &buf, io.Discard)
		for _, m := range flagLine.FindAllStringSubmatch(buf.String(), -1) {
			dash := "--"
			if len(m[1]) == 1 {
				dash = "-"
			}
			cc.Flags = append(cc.Flags, dash+m[1])
		}
		out = append(out, cc)
	}
	return out
}
