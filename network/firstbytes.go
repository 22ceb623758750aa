package network

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// What a connection of the allowlist tier says first. A client that
// speaks TLS or HTTP names its host in what it sends first, and must: the
// relay reads the whole ClientHello (across TCP segments and TLS records)
// or the whole request head, within nameWait and a size bound, and
// refuses what is malformed, incomplete or nameless. Only a client that
// sends something else, or nothing, is left to the nameless rules.

// Waits and bounds of the first bytes.
const (
	// nameWait is how long a client has to send its ClientHello or
	// request head whole. Over the sandbox's loopback it is sent at once;
	// a client that takes longer is refused, not let through by address.
	nameWait = time.Second
	// silentWait is how long a client on a nameless port may say nothing
	// before the relay takes it for one whose server speaks first (ssh,
	// SMTP): that client pays it once per connection.
	silentWait = 50 * time.Millisecond
	maxHello   = 16 << 10 // a ClientHello, its record headers included
	maxHead    = 32 << 10 // an HTTP request head
)

type firstKind int

const (
	undecided   firstKind = iota // more bytes would tell
	silent                       // nothing within the wait
	tlsHello                     // a TLS ClientHello
	httpRequest                  // an HTTP/1 request head
	other                        // bytes of another protocol
)

// first is what a connection's first bytes say.
type first struct {
	bytes []byte
	kind  firstKind
	// name is the host named (checked by hostName) when reason is "";
	// else what was sent for one, if anything, for the log.
	name string
	// reason says why the bytes cannot be let through: a TLS or HTTP
	// client that named no host, or not a host name, or not whole.
	reason string
}

// classify reads a connection's first bytes b; final says no more will
// come (the wait is over, the bound reached, or the client done), so that
// what is not whole is refused.
func classify(b []byte, final bool) first {
	f := first{bytes: b}
	switch {
	case len(b) == 0:
		if final {
			f.kind = silent
		}
		return f
	case b[0] >= 20 && b[0] <= 24 && b[0] != 22: // another TLS record first (an alert, ...)
		f.kind = tlsHello
		f.reason = fmt.Sprintf("a TLS record of type %d before the ClientHello", b[0])
		return f
	case b[0] == 22: // a TLS handshake record
		f.kind = tlsHello
		msg, need, err := helloMessage(b)
		switch {
		case err != nil:
			f.reason = "not a well-formed TLS ClientHello: " + err.Error()
		case need && final:
			f.reason = fmt.Sprintf("the TLS ClientHello was not whole within %v and %d KiB", nameWait, maxHello>>10)
		case need:
			f.kind = undecided
		default:
			sni, err := helloSNI(msg)
			f.name = sni
			switch {
			case err != nil:
				f.reason = "not a well-formed TLS ClientHello: " + err.Error()
			case sni == "":
				f.reason = "a TLS ClientHello without a server name (SNI)"
			default:
				f.name, f.reason = checked("the SNI", sni)
			}
		}
		return f
	}
	switch looksHTTP(b) {
	case 0:
		if !final {
			return f
		}
		f.kind = other
		return f
	case -1:
		f.kind = other
		return f
	}
	f.kind = httpRequest
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if err := crlfOnly(b, end); err != nil {
		f.reason = "not a well-formed HTTP request: " + err.Error()
		return f
	}
	if end < 0 {
		if final {
			f.reason = fmt.Sprintf("the HTTP request head was not whole within %v and %d KiB", nameWait, maxHead>>10)
		} else {
			f.kind = undecided
		}
		return f
	}
	h, err := parseHead(b[:end+4])
	f.name = h.raw
	if err != nil {
		f.reason = err.Error()
		return f
	}
	f.name = h.name
	return f
}

// checked is hostName's verdict on a name that what says, as classify
// keeps it.
func checked(what, raw string) (name, reason string) {
	n, err := hostName(raw)
	if err != nil {
		return raw, "not a host name: " + what + " " + err.Error()
	}
	return n, ""
}

// looksHTTP says whether b may start an HTTP/1 request, as a lenient
// server reads one: empty lines, then a method of letters of either case
// and a space: 1 yes, -1 no, 0 cannot tell yet. What it takes for HTTP
// must name its host (parseHead is strict about the rest): a client
// that looks like HTTP is never let through by address.
func looksHTTP(b []byte) int {
	i := 0
	for i < len(b) && i < 8 && (b[i] == '\r' || b[i] == '\n') {
		i++
	}
	for j, c := range b[i:] {
		switch {
		case c == ' ' && j > 0:
			return 1
		case (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') || j >= 20:
			return -1
		}
	}
	return 0
}

// isMethod says whether m is a method as claudebox passes one: capital
// letters.
func isMethod(m string) bool {
	return m != "" && len(m) < 20 && strings.Trim(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == ""
}

// crlfOnly checks that every line break in b (up to end, the head's end;
// all of b when end < 0) is CRLF: a bare LF or CR is read one way by one
// server and another way by the next, which is how a request hides in
// another.
func crlfOnly(b []byte, end int) error {
	if end >= 0 {
		b = b[:end+4]
	}
	for i, c := range b {
		switch {
		case c == '\n' && (i == 0 || b[i-1] != '\r'):
			return errors.New("a bare LF ends a line (lines end in CRLF)")
		case c == '\r' && i+1 < len(b) && b[i+1] != '\n':
			return errors.New("a bare CR in a line")
		}
	}
	return nil
}

// readFirst reads what a client sends first, until classify can tell:
// nameWait at most, silentWait at most for its first byte on a nameless
// port (nameless), the size bounds at most.
func readFirst(c *net.TCPConn, nameless bool) first {
	start := time.Now()
	defer c.SetReadDeadline(time.Time{})
	buf := make([]byte, 0, 2048)
	for {
		deadline := start.Add(nameWait)
		if len(buf) == 0 && nameless {
			deadline = start.Add(silentWait)
		}
		_ = c.SetReadDeadline(deadline)
		limit := maxHead
		if len(buf) > 0 && buf[0] == 22 {
			limit = maxHello
		}
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(2*cap(buf), maxHead))
			copy(grown, buf)
			buf = grown
		}
		n, err := c.Read(buf[len(buf):min(cap(buf), limit)])
		buf = buf[:len(buf)+n]
		if f := classify(buf, false); f.kind != undecided {
			return f
		}
		if err != nil || len(buf) >= limit {
			return classify(buf, true)
		}
	}
}

// helloMessage reassembles the ClientHello from the handshake records at
// the start of b: its body, or need when more bytes are to come.
func helloMessage(b []byte) (msg []byte, need bool, err error) {
	var hs []byte
	for {
		if len(b) < 5 {
			return nil, true, nil
		}
		n := int(binary.BigEndian.Uint16(b[3:]))
		switch {
		case b[0] != 22:
			return nil, false, fmt.Errorf("a record of type %d before the ClientHello's end", b[0])
		case b[1] != 3:
			return nil, false, fmt.Errorf("a record of version %d.%d", b[1], b[2])
		case n == 0:
			return nil, false, errors.New("an empty handshake record")
		case n > 1<<14:
			return nil, false, errors.New("a record over 16 KiB")
		case len(b) < 5+n:
			return nil, true, nil
		}
		hs, b = append(hs, b[5:5+n]...), b[5+n:]
		if len(hs) < 4 {
			continue
		}
		if hs[0] != 1 {
			return nil, false, fmt.Errorf("a handshake message of type %d before the ClientHello", hs[0])
		}
		l := int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])
		switch {
		case l > maxHello:
			return nil, false, fmt.Errorf("a ClientHello over %d KiB", maxHello>>10)
		case len(hs) > 4+l:
			return nil, false, errors.New("more after the ClientHello in its records")
		case len(hs) == 4+l:
			return hs[4:], false, nil
		}
	}
}

// reader takes length-prefixed fields off a byte string; ok turns false
// at the first that does not fit, and stays so.
type reader struct {
	b  []byte
	ok bool
}

func (r *reader) bytes(n int) []byte {
	if !r.ok || len(r.b) < n {
		r.ok = false
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) uint(n int) int {
	v := 0
	for _, c := range r.bytes(n) {
		v = v<<8 | int(c)
	}
	return v
}

// vector is a field prefixed by its length in lenBytes bytes.
func (r *reader) vector(lenBytes int) []byte { return r.bytes(r.uint(lenBytes)) }

// helloSNI reads the server name of a ClientHello's body (RFC 8446 4.1.2,
// RFC 6066 3), strictly: every field whole and nothing after the
// extensions, no extension twice, one host_name in the server_name list.
// "" without a server_name extension.
func helloSNI(msg []byte) (string, error) {
	r := &reader{b: msg, ok: true}
	r.bytes(2 + 32) // version, random
	if sid := r.vector(1); len(sid) > 32 {
		return "", errors.New("a session id over 32 bytes")
	}
	if cs := r.vector(2); r.ok && (len(cs) == 0 || len(cs)%2 != 0) {
		return "", errors.New("a malformed cipher suite list")
	}
	if cm := r.vector(1); r.ok && len(cm) == 0 {
		return "", errors.New("no compression method")
	}
	if !r.ok {
		return "", errors.New("truncated before the extensions")
	}
	if len(r.b) == 0 {
		return "", nil // no extensions at all
	}
	exts := &reader{b: r.vector(2), ok: r.ok}
	if !r.ok || len(r.b) != 0 {
		return "", errors.New("the extensions do not end the ClientHello")
	}
	seen := map[int]bool{}
	name := ""
	for len(exts.b) > 0 {
		typ := exts.uint(2)
		data := exts.vector(2)
		if !exts.ok {
			return "", errors.New("a truncated extension")
		}
		if seen[typ] {
			return "", fmt.Errorf("extension %d twice", typ)
		}
		seen[typ] = true
		if typ != 0 {
			continue
		}
		e := &reader{b: data, ok: true}
		list := &reader{b: e.vector(2), ok: e.ok}
		if !e.ok || len(e.b) != 0 {
			return "", errors.New("a malformed server_name extension")
		}
		nameType := list.uint(1)
		host := list.vector(2)
		switch {
		case !list.ok || len(host) == 0:
			return "", errors.New("a malformed server_name extension")
		case nameType != 0:
			return "", fmt.Errorf("a server name of type %d, not host_name", nameType)
		case len(list.b) != 0:
			return "", errors.New("more than one server name")
		}
		name = string(host)
	}
	return name, nil
}
