// Package completion writes shell completion scripts for tokend: the
// subcommands, each one's flags and its fixed words (store's actions,
// completion's shells). File arguments complete as files (the shell's
// default). The scripts are small and static: no call back into tokend.
package completion

import (
	"fmt"
	"sort"
	"strings"
)

// Shells lists the shells Script supports.
var Shells = []string{"bash", "zsh", "fish"}

// Command is one subcommand as completion offers it.
type Command struct {
	Name    string
	Summary string   // one line (fish shows it)
	Flags   []string // with their dashes: "--config", "-c"
	Words   []string // fixed first arguments, e.g. "check" "backup"
}

// Script returns the completion script for shell ("bash", "zsh" or "fish").
func Script(shell string, cmds []Command) (string, error) {
	switch shell {
	case "bash":
		return bash(cmds), nil
	case "zsh":
		// zsh runs bash completion functions through bashcompinit.
		return "#compdef tokend\nautoload -U +X bashcompinit && bashcompinit\n" + bash(cmds), nil
	case "fish":
		return fish(cmds), nil
	}
	return "", fmt.Errorf("unknown shell %q (%s)", shell, strings.Join(Shells, ", "))
}

func names(cmds []Command) string {
	var n []string
	for _, c := range cmds {
		n = append(n, c.Name)
	}
	return strings.Join(n, " ")
}

func bash(cmds []Command) string {
	var b strings.Builder
	b.WriteString("# tokend completion for bash: source <(tokend completion bash)\n")
	b.WriteString("_tokend() {\n\tlocal cur=${COMP_WORDS[COMP_CWORD]}\n")
	fmt.Fprintf(&b, "\tif [ \"$COMP_CWORD\" -eq 1 ]; then\n\t\tCOMPREPLY=($(compgen -W %q -- \"$cur\"))\n\t\treturn\n\tfi\n",
		names(cmds)+" --help --version")
	b.WriteString("\tlocal words\n\tcase ${COMP_WORDS[1]} in\n")
	for _, c := range cmds {
		w := append(append([]string{}, c.Words...), c.Flags...)
		fmt.Fprintf(&b, "\t%s) words=%q ;;\n", c.Name, strings.Join(w, " "))
	}
	b.WriteString("\tesac\n")
	b.WriteString("\tif [[ $cur == -* || -n $words && $COMP_CWORD -eq 2 ]]; then\n\t\tCOMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n\tfi\n")
	b.WriteString("\t[ ${#COMPREPLY[@]} -eq 0 ] && COMPREPLY=($(compgen -f -- \"$cur\"))\n}\n")
	b.WriteString("complete -o filenames -F _tokend tokend\n")
	return b.String()
}

func fish(cmds []Command) string {
	var b strings.Builder
	b.WriteString("# tokend completion for fish: tokend completion fish > ~/.config/fish/completions/tokend.fish\n")
	fmt.Fprintf(&b, "complete -c tokend -n __fish_use_subcommand -f -a %q\n", names(cmds))
	for _, c := range cmds {
		fmt.Fprintf(&b, "complete -c tokend -n '__fish_use_subcommand' -f -a %s -d %q\n", c.Name, c.Summary)
		cond := fmt.Sprintf("__fish_seen_subcommand_from %s", c.Name)
		if len(c.Words) > 0 {
			fmt.Fprintf(&b, "complete -c tokend -n '%s' -f -a %q\n", cond, strings.Join(c.Words, " "))
		}
		flags := append([]string{}, c.Flags...)
		sort.Strings(flags)
		for _, f := range flags {
			opt := "-l " + strings.TrimPrefix(f, "--")
			if !strings.HasPrefix(f, "--") {
				opt = "-s " + strings.TrimPrefix(f, "-")
			}
			fmt.Fprintf(&b, "complete -c tokend -n '%s' %s\n", cond, opt)
		}
	}
	return b.String()
}
