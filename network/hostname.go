package network

import (
	"fmt"
	"net/netip"
	"strings"
)

// maxLogged bounds a name as the log and the summary keep it.
const maxLogged = 255

// hostName checks a name read off the wire (an SNI, a Host header, an
// absolute-form request target, a DNS question) and returns it in the one
// form the allowlist compares: a DNS host name (RFC 952, RFC 1123 2.1) of
// letters, digits and hyphens in dot-separated labels, IDNA A-labels
// ("xn--") included, lower-cased, with one trailing dot removed. Anything
// else is refused with the reason, for the log: an address in any
// spelling, a zone (%), a port or an IPv6 literal (: [ ]), a path (/ \),
// a control byte, a byte that is not ASCII (a U-label), an empty or
// over-long label or name.
//
// Nothing here resolves: the checked name is what the relay puts in a
// DNS question it builds itself (lookupA), so no resolver ever sees a
// string it could read as an address.
func hostName(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("empty name")
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c == 0x7f:
			return "", fmt.Errorf("holds the control byte %#02x", c)
		case c >= 0x80:
			return "", fmt.Errorf("holds a byte that is not ASCII (%#02x); names are sent as A-labels (xn--)", c)
		case strings.IndexByte(`%:[]/\@ `, c) >= 0:
			return "", fmt.Errorf("holds %q, which no host name does", c)
		}
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return "", fmt.Errorf("is an address, not a name")
	}
	name := strings.ToLower(strings.TrimSuffix(s, "."))
	if len(name) > 253 {
		return "", fmt.Errorf("is %d bytes long, over DNS's 253", len(name))
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		switch {
		case l == "":
			return "", fmt.Errorf("has an empty label")
		case len(l) > 63:
			return "", fmt.Errorf("has a label of %d bytes, over DNS's 63", len(l))
		case l[0] == '-' || l[len(l)-1] == '-':
			return "", fmt.Errorf("has a label that starts or ends with a hyphen")
		case strings.Trim(l, "abcdefghijklmnopqrstuvwxyz0123456789-") != "":
			return "", fmt.Errorf("has a label with a byte other than a letter, digit or hyphen")
		}
	}
	// The last label of a host name is never numeric (RFC 1123 2.1, RFC
	// 3696 2): "198.51.100.10", "127.1", "0x7f.1" and "0x7f000001" are
	// read as addresses by inet_aton and its kind.
	if last := labels[len(labels)-1]; strings.Trim(last, "0123456789") == "" || isHexNumber(last) {
		return "", fmt.Errorf("ends in a numeric label: an address in another spelling")
	}
	return name, nil
}

// isHexNumber reports whether l is 0x followed by hex digits, as
// inet_aton reads a number.
func isHexNumber(l string) bool {
	rest, ok := strings.CutPrefix(l, "0x")
	return ok && strings.Trim(rest, "0123456789abcdef") == ""
}

// clip is s at most maxLogged bytes long, for a log reason or the exit
// summary: a name off the wire can be as long as the client likes.
func clip(s string) string {
	if len(s) > maxLogged {
		return s[:maxLogged] + "..."
	}
	return s
}
