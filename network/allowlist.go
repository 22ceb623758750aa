package network

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/claudebox/claudebox/launch"
	"golang.org/x/net/dns/dnsmessage"
)

// The allowlist tier is the relay with a list of names (launch.HostRule).
// Its DNS stub answers only names on the list, resolving them from
// outside, and answers every other name NXDOMAIN without sending the
// query anywhere, so a query cannot carry data out. A TCP connection goes
// through only to a listed name on one of its ports: the name is taken
// from what the client sends first (the TLS ClientHello's SNI, or the HTTP
// Host header) and the relay connects to an address that name resolves to,
// not to the address the client dialled, so a shared CDN address or a
// forged SNI reaches no other name. A connection that names nothing (ssh)
// goes through when its address is one the stub answered for a listed
// name whose ports include its port. Every decision is logged.

// allowlist is the relay's list, and what its stub answered.
type allowlist struct {
	hosts []launch.HostRule
	mu    sync.Mutex
	// answered holds, for each address the stub gave out, the names it
	// was given for.
	answered map[netip.Addr][]string
	log      *netLog
}

// rule is the first rule naming name, if any.
func (l *allowlist) rule(name string) (launch.HostRule, bool) {
	for _, h := range l.hosts {
		if h.Matches(name) {
			return h, true
		}
	}
	return launch.HostRule{}, false
}

// allows reports whether name is listed with port (by any of its rules).
func (l *allowlist) allows(name string, port uint16) bool {
	return slices.ContainsFunc(l.hosts, func(h launch.HostRule) bool { return h.Matches(name) && slices.Contains(h.Ports, port) })
}

// answer is the stub: it answers a query for a listed name with the
// upstream's answer (ask), recording the addresses given out, and any
// other query NXDOMAIN, asking nobody.
func (l *allowlist) answer(query []byte, ask func([]byte) []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	name := strings.ToLower(strings.TrimSuffix(q.Name.String(), "."))
	if _, ok := l.rule(name); !ok {
		l.log.add(logEntry{Kind: "dns", Name: name, Verdict: "refused"})
		return nxdomain(h, q)
	}
	resp := ask(query)
	if resp == nil {
		return nil
	}
	var addrs []string
	if err := eachA(resp, func(a netip.Addr) { addrs = append(addrs, a.String()); l.record(a, name) }); err != nil {
		return nil
	}
	l.log.add(logEntry{Kind: "dns", Name: name, Verdict: "answered", Addr: strings.Join(addrs, ",")})
	return resp
}

func (l *allowlist) record(a netip.Addr, name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !slices.Contains(l.answered[a], name) {
		l.answered[a] = append(l.answered[a], name)
	}
}

// answeredFor is a listed name the stub gave a out for, with port.
func (l *allowlist) answeredFor(a netip.Addr, port uint16) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.answered[a] {
		if l.allows(n, port) {
			return n, true
		}
	}
	return "", false
}

// nxdomain is the stub's answer for a name not on the list.
func nxdomain(h dnsmessage.Header, q dnsmessage.Question) []byte {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, RecursionDesired: h.RecursionDesired,
		RecursionAvailable: true, RCode: dnsmessage.RCodeNameError})
	_ = b.StartQuestions()
	_ = b.Question(q)
	out, _ := b.Finish()
	return out
}

// eachA calls f for each A record of a DNS response.
func eachA(resp []byte, f func(netip.Addr)) error {
	var p dnsmessage.Parser
	if _, err := p.Start(resp); err != nil {
		return err
	}
	if err := p.SkipAllQuestions(); err != nil {
		return err
	}
	for {
		h, err := p.AnswerHeader()
		if err == dnsmessage.ErrSectionDone {
			return nil
		}
		if err != nil {
			return err
		}
		if h.Type != dnsmessage.TypeA {
			if err := p.SkipAnswer(); err != nil {
				return err
			}
			continue
		}
		r, err := p.AResource()
		if err != nil {
			return err
		}
		f(netip.AddrFrom4(r.A))
	}
}

// admit decides a connection of the allowlist tier to dst, whose client
// sent first (TLS or HTTP: the name) or not. It returns where to connect
// (an address the listed name resolves to, or dst for a named address) and
// the name, or a reason to refuse.
func (d *relayDriver) admit(dst netip.AddrPort, first []byte) (to, name string, refused string) {
	l := d.list
	if name = requestedName(first); name != "" {
		if !l.allows(name, dst.Port()) {
			return "", name, "not on the list"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", name)
		if err != nil || len(addrs) == 0 {
			return "", name, "does not resolve"
		}
		for _, a := range addrs {
			if d.allowed(netip.AddrPortFrom(a, dst.Port())) {
				return netip.AddrPortFrom(a.Unmap(), dst.Port()).String(), name, ""
			}
		}
		return "", name, "resolves only to denied addresses"
	}
	if n, ok := l.answeredFor(dst.Addr(), dst.Port()); ok && d.allowed(dst) {
		return dst.String(), n, ""
	}
	if d.allowedNet(dst) {
		return dst.String(), "", "" // --allow-net: an address, not a name
	}
	return "", "", "no listed name"
}

// requestedName is the host a connection's first bytes name: the SNI of a
// TLS ClientHello, or the Host header of an HTTP request; "" for neither.
func requestedName(b []byte) string {
	if name := sni(b); name != "" {
		return name
	}
	return httpHost(b)
}

// sni reads the server name of a TLS ClientHello (RFC 8446 4.1.2, RFC
// 6066 3); "" when b is not one or has none.
func sni(b []byte) string {
	// Record header: type 22 (handshake), version, length.
	if len(b) < 5 || b[0] != 22 {
		return ""
	}
	b = b[5:]
	// Handshake header: type 1 (ClientHello), 3-byte length.
	if len(b) < 4 || b[0] != 1 {
		return ""
	}
	b = b[4:]
	skip := func(n int) bool {
		if len(b) < n {
			return false
		}
		b = b[n:]
		return true
	}
	vector := func(lenBytes int) bool {
		if len(b) < lenBytes {
			return false
		}
		n := 0
		for _, c := range b[:lenBytes] {
			n = n<<8 | int(c)
		}
		return skip(lenBytes + n)
	}
	// version, random, session id, cipher suites, compression methods
	if !skip(2+32) || !vector(1) || !vector(2) || !vector(1) || len(b) < 2 {
		return ""
	}
	exts := b[2:]
	if n := int(binary.BigEndian.Uint16(b)); n < len(exts) {
		exts = exts[:n]
	}
	for len(exts) >= 4 {
		typ, n := binary.BigEndian.Uint16(exts), int(binary.BigEndian.Uint16(exts[2:]))
		exts = exts[4:]
		if n > len(exts) {
			return ""
		}
		if typ == 0 { // server_name: list length, then (type 0, length, name)
			e := exts[:n]
			if len(e) < 5 || e[2] != 0 {
				return ""
			}
			l := int(binary.BigEndian.Uint16(e[3:]))
			if 5+l > len(e) {
				return ""
			}
			return strings.ToLower(strings.TrimSuffix(string(e[5:5+l]), "."))
		}
		exts = exts[n:]
	}
	return ""
}

// httpHost reads the Host header of an HTTP/1 request; "" when b is not
// one (or the header is not in it).
func httpHost(b []byte) string {
	line, rest, ok := bytes.Cut(b, []byte("\r\n"))
	if !ok || !bytes.Contains(line, []byte(" HTTP/1.")) {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(rest))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			return ""
		}
		if strings.EqualFold(strings.TrimSpace(k), "host") {
			host := strings.TrimSpace(v)
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			return strings.ToLower(strings.TrimSuffix(host, "."))
		}
	}
	return ""
}

// firstWait is how long the relay waits for a client's first bytes. A
// client that speaks first (TLS, HTTP) sends them as soon as it is
// connected, over the sandbox's own loopback; one whose server speaks
// first (ssh) sends nothing, and pays this once per connection.
const firstWait = 50 * time.Millisecond

// firstBytes reads what the client sends first, waiting at most firstWait
// for it to start.
func firstBytes(c *net.TCPConn) []byte {
	buf := make([]byte, 16<<10)
	_ = c.SetReadDeadline(time.Now().Add(firstWait))
	defer c.SetReadDeadline(time.Time{})
	n := 0
	for n < len(buf) {
		m, err := c.Read(buf[n:])
		n += m
		if err != nil || requestedName(buf[:n]) != "" || complete(buf[:n]) {
			break
		}
	}
	return buf[:n]
}

// complete reports whether b holds a whole TLS record or HTTP header, so
// that waiting longer would show nothing more.
func complete(b []byte) bool {
	if len(b) >= 5 && b[0] == 22 {
		return len(b) >= 5+int(binary.BigEndian.Uint16(b[3:]))
	}
	return bytes.Contains(b, []byte("\r\n\r\n")) || len(b) > 0 && b[0] != 22 && !bytes.Contains(b, []byte("HTTP/1."))
}

// netLog is a session's record of the allowlist tier's decisions, one
// JSON object a line.
type netLog struct {
	mu      sync.Mutex
	f       *os.File
	refused []string
}

type logEntry struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"` // "dns", "tcp"
	Name    string    `json:"name,omitempty"`
	Addr    string    `json:"addr,omitempty"`
	Port    uint16    `json:"port,omitempty"`
	Verdict string    `json:"verdict"` // "answered", "allowed", "refused"
	Reason  string    `json:"reason,omitempty"`
	Bytes   int64     `json:"bytes,omitempty"`
}

// add records an entry (a nil log records nothing).
func (l *netLog) add(e logEntry) {
	if l == nil {
		return
	}
	e.Time = time.Now().UTC()
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.Verdict == "refused" && len(l.refused) < 1000 {
		what := e.Name
		if what == "" {
			what = e.Addr
		}
		if e.Port != 0 {
			what = fmt.Sprintf("%s:%d", what, e.Port)
		}
		l.refused = append(l.refused, what)
	}
	if l.f != nil {
		b, _ := json.Marshal(e)
		_, _ = l.f.Write(append(b, '\n'))
	}
}

// Summary says what was refused, in one line; "" for nothing.
func (l *netLog) Summary() string {
	if l == nil {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.refused) == 0 {
		return ""
	}
	shown := slices.Compact(slices.Clone(l.refused))
	more := ""
	if len(shown) > 5 {
		more = ", ..."
		shown = shown[:5]
	}
	return fmt.Sprintf("%d refused in the allowlist tier: %s%s (claudebox net-log shows them all)", len(l.refused), strings.Join(shown, ", "), more)
}

// openNetLog opens a session's log at path ("" for none).
func openNetLog(path string) (*netLog, error) {
	l := &netLog{}
	if path == "" {
		return l, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("the network log: %w", err)
	}
	l.f = f
	return l, nil
}

// close closes the log's file.
func (l *netLog) close() {
	if l != nil && l.f != nil {
		l.f.Close()
	}
}
