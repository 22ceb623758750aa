package printable

import "testing"

func TestString(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/home/me/project", "/home/me/project"},
		{"/home/me/café ☕ projet", "/home/me/café ☕ projet"},
		{"a\nb", `a\nb`},
		{"a\rb", `a\rb`},
		{"a\tb", `a\tb`},
		{"\x1b[2J\x1b]0;title\x07", `\x1b[2J\x1b]0;title\a`},
		{"\x00\x7f", `\x00\x7f`},
		{"a\u0085b\u009bc", `a\u0085b\u009bc`}, // C1: NEL, CSI
		{"evil\u202eexe.txt", `evil\u202eexe.txt`},
		{"\u2066x\u2069", `\u2066x\u2069`},
		{"bad\xffutf8\xc3", `bad\xffutf8\xc3`},
		{"\uFFFD", `\ufffd`}, // a real U+FFFD is escaped too: it may stand for lost bytes
		{`back\slash`, `back\slash`},
		{"", ""},
	} {
		if got := String(c.in); got != c.want {
			t.Errorf("String(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestLines(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"one\ntwo", "one\ntwo"},
		{"one\r\n\x1b[31mtwo", "one\\r\n\\x1b[31mtwo"},
	} {
		if got := Lines(c.in); got != c.want {
			t.Errorf("Lines(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
