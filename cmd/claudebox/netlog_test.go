package main

import "testing"

// net-log shows what the sandbox sent escaped: a name can hold a
// terminal's escape sequences.
func TestNetLogFieldEscaped(t *testing.T) {
	for in, want := range map[any]string{
		"cdn-a.test":                "cdn-a.test",
		"evil\x1b]0;owned\x07.test": `evil\x1b]0;owned\x07.test`,
		"a\r\nb":                    `a\x0d\x0ab`,
		float64(443):                "443",
		nil:                         "",
	} {
		if got := str(in); got != want {
			t.Errorf("str(%q) = %q, want %q", in, got, want)
		}
	}
}
