package audit

import (
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// DefaultWidth is the plan's width when the output is not a terminal.
const DefaultWidth = 100

// minWidth is the narrowest plan laid out; a narrower width is taken as
// this one.
const minWidth = 40

// plan is the launch plan as rows, laid out to a width at the end: the
// rows a user must look at (marked Risky, and the network tier's) first,
// then the rest in the order added, each group's name on its first row
// only.
type plan struct {
	rows []planRow
}

type planRow struct {
	mark, key, value, note string
	first                  bool // shown in the first part: the user must look at it
	gap                    bool // a blank line between groups
}

// add adds a row: mark is Risky or "", key the group ("env",
// "read-only"), value what it is about and note a word on it.
func (p *plan) add(mark, key, value, note string) {
	p.rows = append(p.rows, planRow{mark: mark, key: key, value: value, note: note, first: mark != ""})
}

// addFirst adds a row shown in the first part, though not Risky (the
// network tier).
func (p *plan) addFirst(mark, key, value, note string) {
	p.add(mark, key, value, note)
	p.rows[len(p.rows)-1].first = true
}

// gap ends a group of rows.
func (p *plan) gap() { p.rows = append(p.rows, planRow{gap: true}) }

// ordered returns the rows to print: the first part, a gap, the rest;
// with no gap first, last or twice.
func (p *plan) ordered() []planRow {
	var out []planRow
	for _, r := range p.rows {
		if r.first && !r.gap {
			out = append(out, r)
		}
	}
	out = append(out, planRow{gap: true})
	for _, r := range p.rows {
		if !r.first || r.gap {
			out = append(out, r)
		}
	}
	var tidy []planRow
	for _, r := range out {
		if r.gap && (len(tidy) == 0 || tidy[len(tidy)-1].gap) {
			continue
		}
		tidy = append(tidy, r)
	}
	for len(tidy) > 0 && tidy[len(tidy)-1].gap {
		tidy = tidy[:len(tidy)-1]
	}
	return tidy
}

// write lays the rows out in width columns: the mark, the group, the
// value and the note. A value too long for its column is cut in the
// middle ("/home/ada/…/versions"); a note is wrapped. No line is longer
// than width, none ends in a space.
func (p *plan) write(w io.Writer, width int) error {
	width = max(width, minWidth)
	rows := p.ordered()
	keyW, valW, noteW := 0, 0, 0
	for _, r := range rows {
		keyW = max(keyW, runes(r.key))
		valW = max(valW, runes(r.value))
		noteW = max(noteW, runes(r.note))
	}
	avail := width - (2 + keyW + 2) // "! key  "
	if valW+2+noteW > avail {
		valW = min(valW, max(avail-2-noteW, avail*11/20))
	}
	noteW = avail - valW - 2
	var b strings.Builder
	prevKey := ""
	for _, r := range rows {
		if r.gap {
			b.WriteString("\n")
			prevKey = ""
			continue
		}
		key := r.key
		if key == prevKey {
			key = ""
		}
		prevKey = r.key
		mark := r.mark
		if mark == "" {
			mark = " "
		}
		notes := wrap(r.note, noteW)
		line := mark + " " + padRight(key, keyW) + "  " + padRight(Shorten(r.value, valW), valW) + "  " + first(notes)
		b.WriteString(strings.TrimRight(line, " ") + "\n")
		for _, n := range notes[min(1, len(notes)):] {
			b.WriteString(strings.Repeat(" ", width-noteW) + n + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeNotes writes the spec's notes after the table, each wrapped to
// width, marked Risky.
func writeNotes(w io.Writer, notes []string, width int) error {
	width = max(width, minWidth)
	var b strings.Builder
	for _, n := range notes {
		for i, l := range wrap("note: "+n, width-2) {
			if i == 0 {
				b.WriteString(Risky + " " + l + "\n")
			} else {
				b.WriteString("  " + l + "\n")
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func first(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return lines[0]
}

func runes(s string) int { return utf8.RuneCountInString(s) }

func padRight(s string, n int) string {
	return s + strings.Repeat(" ", max(0, n-runes(s)))
}

// Shorten cuts s to at most n runes by taking out its middle, marked
// "…": the start and the end of a path say the most.
func Shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n <= 1 {
		return string(r[:max(n, 0)])
	}
	head := (n - 1) / 2
	tail := n - 1 - head
	return string(r[:head]) + "…" + string(r[len(r)-tail:])
}

// wrap breaks s into lines of at most n runes at spaces; a word longer
// than a line is shortened in the middle.
func wrap(s string, n int) []string {
	if s == "" {
		return nil
	}
	var lines []string
	cur := ""
	for _, word := range strings.Fields(s) {
		word = Shorten(word, n)
		switch {
		case cur == "":
			cur = word
		case runes(cur)+1+runes(word) <= n:
			cur += " " + word
		default:
			lines = append(lines, cur)
			cur = word
		}
	}
	return slices.DeleteFunc(append(lines, cur), func(l string) bool { return l == "" })
}
