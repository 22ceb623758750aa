package network

import (
	"strings"
	"testing"
)

// A name off the wire is a host name or nothing: every spelling of an
// address, and every byte a host name cannot hold, is refused.
func TestHostName(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"cdn-a.test", "cdn-a.test"},
		{"Registry.NPMJS.org.", "registry.npmjs.org"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"a.b-c.d1", "a.b-c.d1"},
		{"localhost", "localhost"},
		{strings.Repeat("a", 63) + ".test", strings.Repeat("a", 63) + ".test"},
		{strings.Repeat("abcdefghi.", 24) + "abcdefgh.test", strings.Repeat("abcdefghi.", 24) + "abcdefgh.test"}, // 253 bytes
	} {
		got, err := hostName(c.in)
		if err != nil || got != c.want {
			t.Errorf("hostName(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, c := range []struct{ in, why string }{
		{"::ffff:198.51.100.10%x.allowed.test", "holds ':'"},
		{"x%eth0.allowed.test", "holds '%'"},
		{"::ffff:198.51.100.10", "holds ':'"},
		{"198.51.100.10", "address"},
		{"198.51.100.10.", "address"},
		{"127.1", "numeric label"},
		{"0x7f.0x1", "numeric label"},
		{"0x7f000001", "numeric label"},
		{"2130706433", "numeric label"},
		{"[::1]", "holds '['"},
		{"a]b.test", "holds ']'"},
		{"cdn-a.test:443", "holds ':'"},
		{"evil.test/x.allowed.test", "holds '/'"},
		{`evil.test\x.allowed.test`, `holds '\\'`},
		{"evil.test\x00.allowed.test", "control byte"},
		{"a\r\nb.test", "control byte"},
		{"a\x7fb.test", "control byte"},
		{"bücher.example", "not ASCII"},
		{"user@cdn-a.test", "holds '@'"},
		{"a b.test", "holds ' '"},
		{"a..test", "empty label"},
		{".test", "empty label"},
		{"test..", "empty label"},
		{"", "empty name"},
		{"-a.test", "hyphen"},
		{"a-.test", "hyphen"},
		{"_dmarc.example", "byte other than"},
		{"a*.test", "byte other than"},
		{strings.Repeat("a", 64) + ".test", "label of 64"},
		{strings.Repeat("abcdefghi.", 26) + "test", "over DNS's 253"},
	} {
		got, err := hostName(c.in)
		if err == nil {
			t.Errorf("hostName(%q) = %q, want refused (%s)", c.in, got, c.why)
		} else if !strings.Contains(err.Error(), c.why) {
			t.Errorf("hostName(%q): %v, want a reason with %q", c.in, err, c.why)
		}
	}
}

func TestClip(t *testing.T) {
	if got := clip(strings.Repeat("x", 300)); got != strings.Repeat("x", 255)+"..." {
		t.Errorf("clip: %q", got)
	}
	if got := clip(strings.Repeat("x", 255)); got != strings.Repeat("x", 255) {
		t.Errorf("clip at the bound: %q", got)
	}
	if got := clip("cdn-a.test"); got != "cdn-a.test" {
		t.Errorf("clip: %q", got)
	}
}
