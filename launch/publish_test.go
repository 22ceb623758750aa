package launch

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestParsePublish(t *testing.T) {
	v4 := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	for _, tc := range []struct {
		in      string
		want    Publish
		exposed bool
		url     string
	}{
		{"5173", Publish{HostPort: 5173, SandboxPort: 5173}, false, "http://localhost:5173"},
		{"8080:80", Publish{HostPort: 8080, SandboxPort: 80}, false, "http://localhost:8080"},
		{"localhost:3000", Publish{HostPort: 3000, SandboxPort: 3000}, false, "http://localhost:3000"},
		{"127.0.0.1:3000:4000", Publish{Addr: v4("127.0.0.1"), HostPort: 3000, SandboxPort: 4000}, false, "http://127.0.0.1:3000"},
		{"192.168.1.5:8080", Publish{Addr: v4("192.168.1.5"), HostPort: 8080, SandboxPort: 8080}, true, "http://192.168.1.5:8080"},
		{"0.0.0.0:8080", Publish{Addr: v4("0.0.0.0"), HostPort: 8080, SandboxPort: 8080}, true, "http://localhost:8080"},
		{"[::1]:8080", Publish{Addr: v4("::1"), HostPort: 8080, SandboxPort: 8080}, false, "http://[::1]:8080"},
		{"[::]:8080:80", Publish{Addr: v4("::"), HostPort: 8080, SandboxPort: 80}, true, "http://localhost:8080"},
		{"[fd00::5]:65535:1", Publish{Addr: v4("fd00::5"), HostPort: 65535, SandboxPort: 1}, true, "http://[fd00::5]:65535"},
		{"[::ffff:127.0.0.1]:80", Publish{Addr: v4("127.0.0.1"), HostPort: 80, SandboxPort: 80}, false, "http://127.0.0.1:80"},
	} {
		got, err := ParsePublish(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%q: got %+v, want %+v", tc.in, got, tc.want)
		}
		if got.Exposed() != tc.exposed {
			t.Errorf("%q: Exposed() = %v", tc.in, got.Exposed())
		}
		if got.URL() != tc.url {
			t.Errorf("%q: URL() = %q, want %q", tc.in, got.URL(), tc.url)
		}
	}
}

// TestParsePublishRejects: every malformed spec is an error that names
// --publish and says what is wrong, with a hint.
func TestParsePublishRejects(t *testing.T) {
	for in, why := range map[string]string{
		"":                    "not a port",
		"0":                   "from 1 to 65535",
		"65536":               "from 1 to 65535",
		"08080":               "from 1 to 65535",
		"+80":                 "not a port",
		"80:":                 "sandbox port",
		":80":                 "no host address",
		"80:0":                "sandbox port",
		"80:80:80":            "too many colons",
		"1.2.3:80":            "not an IPv4 address",
		"example.com:80":      "not an IPv4 address",
		"::1:80":              "in brackets",
		"fe80::1:80":          "in brackets",
		"[::1]80":             "after a colon",
		"[::1:80":             "no ]",
		"[127.0.0.1]:80":      "not an IPv6 address",
		"[fe80::1%eth0]:80":   "not an IPv6 address",
		"1.2.3.4:80:90:100":   "too many colons",
		"localhost":           "not a port",
		"127.0.0.1":           "not a port",
		" 80":                 "not a port",
		"80 ":                 "not a port",
		"[::1]:":              "not a port",
		"0x50":                "not a port",
		"1.2.3.4::80":         "not a port",
		"[::1]:80:90:100":     "too many colons",
		"localhost:80:90:100": "too many colons",
	} {
		_, err := ParsePublish(in)
		if err == nil {
			t.Errorf("%q was accepted", in)
			continue
		}
		if !errors.Is(err, ErrBadPublish) || !strings.Contains(err.Error(), "--publish") || !strings.Contains(err.Error(), why) || Hint(err) == "" {
			t.Errorf("%q: error %q (hint %q), want ErrBadPublish saying %q, with a hint", in, err, Hint(err), why)
		}
	}
}

func TestResolvePublishTwice(t *testing.T) {
	for _, specs := range [][]string{
		{"5173", "5173:80"},
		{"5173", "127.0.0.1:5173"},
		{"0.0.0.0:5173", "127.0.0.1:5173"},
		{"[::]:5173", "5173"},
	} {
		if _, err := resolvePublish(specs); !errors.Is(err, ErrBadPublish) {
			t.Errorf("%q: err %v, want ErrBadPublish", specs, err)
		}
	}
	for _, specs := range [][]string{
		{"5173", "5174:5173"},
		{"192.168.1.5:5173", "127.0.0.1:5173"},
		{"[::]:5173", "0.0.0.0:5173"},
	} {
		if _, err := resolvePublish(specs); err != nil {
			t.Errorf("%q: %v", specs, err)
		}
	}
}

// FuzzParsePublish: whatever is accepted has ports in range, no zone, an
// unmapped address, and reads back from its String as itself.
func FuzzParsePublish(f *testing.F) {
	for _, s := range []string{"5173", "8080:80", "127.0.0.1:80", "[::1]:80:81", "[::ffff:1.2.3.4]:9", ":80", "localhost:1", "[", "1:2:3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePublish(s)
		if err != nil {
			if !errors.Is(err, ErrBadPublish) || Hint(err) == "" {
				t.Fatalf("%q: error without ErrBadPublish or hint: %v", s, err)
			}
			return
		}
		if p.HostPort == 0 || p.SandboxPort == 0 {
			t.Fatalf("%q: port 0 accepted: %+v", s, p)
		}
		if p.Addr.IsValid() && (p.Addr.Zone() != "" || p.Addr.Is4In6()) {
			t.Fatalf("%q: address %v accepted", s, p.Addr)
		}
		back, err := ParsePublish(p.String())
		if err != nil || back != p {
			t.Fatalf("%q -> %q -> %+v, %v; want %+v", s, p.String(), back, err, p)
		}
	})
}
