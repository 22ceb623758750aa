// Package printable makes text that came from the user or from a sandbox
// (a project path, an instance's name, a profile, a name a sandbox looked
// up, an error that quotes one) safe to print on a terminal: a control
// character in it cannot move the cursor, recolour or rewrite the screen,
// or split a row of claudebox's tables into two.
package printable

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// String returns s with every character that is not safe to print escaped
// as Go writes it in a quoted string: the C0 and C1 control characters
// and DEL (\n, \t, \x1b, \u0085), Unicode's bidirectional controls, which
// reorder what follows them on screen (\u202e), and bytes that are not
// UTF-8 (\xff). Everything else, spaces and non-ASCII letters included,
// is kept as it is; s comes back unchanged when there is nothing to escape.
func String(s string) string { return escape(s, false) }

// Lines is String, but keeps newlines: for a message whose lines are
// meant (an error that carries a helper's output).
func Lines(s string) string { return escape(s, true) }

func escape(s string, keepNewlines bool) string {
	i := strings.IndexFunc(s, func(r rune) bool { return unprintable(r) && !(keepNewlines && r == '\n') })
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.WriteString(s[:i])
	for s = s[i:]; s != ""; {
		r, n := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\x` + strconv.FormatUint(uint64(s[0])|0x100, 16)[1:])
		case keepNewlines && r == '\n', !unprintable(r):
			b.WriteString(s[:n])
		default:
			q := strconv.QuoteRuneToASCII(r) // '\x1b', '\u202e'
			b.WriteString(q[1 : len(q)-1])
		}
		s = s[n:]
	}
	return b.String()
}

// unprintable reports whether r must not reach a terminal as it is. Invalid
// UTF-8 decodes as utf8.RuneError, which is unprintable too.
func unprintable(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == utf8.RuneError
}
