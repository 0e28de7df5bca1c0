package status

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tokend/tokend/internal/scheduler"
)

// lastErrorWidth is how many characters of a credential's last error the
// table shows unless wide.
const lastErrorWidth = 60

// WriteTable writes credentials like `kubectl get`: NAME, STATUS,
// GENERATION (refreshes committed), EXPIRES (marked "(guessed)" when
// default_lifetime set it), NEXT-REFRESH and LAST-ERROR, its cause kept
// when it is cut. wide adds TOKEN (the fingerprint) and shows LAST-ERROR
// whole. `tokend status` and
// `tokend demo` both print it, so they show the same columns.
func WriteTable(w io.Writer, sts []scheduler.CredentialStatus, now time.Time, wide bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	if wide {
		fmt.Fprintln(tw, "NAME\tSTATUS\tGENERATION\tTOKEN\tEXPIRES\tNEXT-REFRESH\tLAST-ERROR")
	} else {
		fmt.Fprintln(tw, "NAME\tSTATUS\tGENERATION\tEXPIRES\tNEXT-REFRESH\tLAST-ERROR")
	}
	width := lastErrorWidth
	if wide {
		width = 0
	}
	for _, st := range sts {
		expires := Relative(now, st.ExpiresAt)
		if st.ExpiresGuessed && !st.ExpiresAt.IsZero() {
			expires += " (guessed)"
		}
		if wide {
			fp := st.TokenFP
			if fp == "" {
				fp = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", st.Name, st.Status, st.Generation, fp, expires,
				Relative(now, st.NextRefresh), LastError(st, width))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", st.Name, st.Status, st.Generation, expires, Relative(now, st.NextRefresh), LastError(st, width))
	}
	_ = tw.Flush()
}

// Relative renders t as "in 42m", "3m ago" or "-" (unknown).
func Relative(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := t.Sub(now)
	if d < 0 {
		return Short(-d) + " ago"
	}
	return "in " + Short(d)
}

// Short renders a duration kubectl-style: 45s, 12m, 3h5m, 2d4h.
func Short(d time.Duration) string {
	switch s := int64(d / time.Second); {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm", s/60)
	case s < 86400:
		if m := s % 3600 / 60; m != 0 {
			return fmt.Sprintf("%dh%dm", s/3600, m)
		}
		return fmt.Sprintf("%dh", s/3600)
	default:
		if h := s % 86400 / 3600; h != 0 {
			return fmt.Sprintf("%dd%dh", s/86400, h)
		}
		return fmt.Sprintf("%dd", s/86400)
	}
}

// LastError is the credential's last error as "code: description" (or the
// class), else its first failing sink's ("sink NAME: error"), "-" when
// none, on one line. Longer than width characters (0: no limit), it is
// cut ("…"): an error chain ("op: op: cause") in its middle, keeping the
// cause at its end, anything else at its end.
func LastError(st scheduler.CredentialStatus, width int) string {
	head, msg := "", ""
	if e := st.LastError; e != nil {
		head = e.Code
		if head == "" {
			head = e.Class
		}
		msg = e.Description
	} else {
		for _, sk := range st.Sinks {
			if sk.LastError != "" {
				head, msg = "sink "+sk.Name, sk.LastError
				break
			}
		}
	}
	head, msg = strings.Join(strings.Fields(head), " "), strings.Join(strings.Fields(msg), " ")
	switch {
	case head == "" && msg == "":
		return "-"
	case msg == "":
		return head
	case head == "":
		head = "error"
	}
	out := head + ": " + msg
	if width <= 0 || len([]rune(out)) <= width {
		return out
	}
	// An error chain (`op: op: cause`) keeps its end, the cause, and a
	// short first element; a sentence is cut at its end.
	lead := head + ": "
	if first, _, ok := strings.Cut(msg, ": "); ok && len([]rune(first)) <= 30 {
		lead += first + ": "
	}
	keep := width - len([]rune(lead)) - 1
	if strings.Count(msg, ": ") < 2 || keep < 10 {
		return string([]rune(out)[:width-1]) + "…"
	}
	all := []rune(msg)
	tail := all[len(all)-keep:]
	if all[len(all)-keep-1] != ' ' { // start at a word
		if i := strings.IndexRune(string(tail[:min(len(tail), 16)]), ' '); i >= 0 {
			tail = []rune(string(tail)[i+1:])
		}
	}
	out = lead + "…" + string(tail)
	return out
}
