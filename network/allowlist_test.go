package network

import (
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/claudebox/claudebox/launch"
	"golang.org/x/net/dns/dnsmessage"
)

// clientHello is what a real TLS client sends first for serverName.
func clientHello(t *testing.T, serverName string) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	go func() {
		c := tls.Client(a, &tls.Config{ServerName: serverName, InsecureSkipVerify: true})
		c.SetDeadline(time.Now().Add(time.Second))
		c.Handshake()
	}()
	buf := make([]byte, 16<<10)
	b.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, _ := b.Read(buf)
	b.Close()
	return buf[:n]
}

func TestRequestedName(t *testing.T) {
	for _, c := range []struct {
		first []byte
		want  string
	}{
		{clientHello(t, "Registry.NPMJS.org"), "registry.npmjs.org"},
		{[]byte("GET / HTTP/1.1\r\nUser-Agent: x\r\nHost: github.com:80\r\n\r\n"), "github.com"},
		{[]byte("SSH-2.0-OpenSSH_9.2\r\n"), ""},
		{[]byte{22, 3, 1, 0, 5, 1, 0}, ""}, // a truncated hello
		{nil, ""},
	} {
		if got := requestedName(c.first); got != c.want {
			t.Errorf("requestedName(%q...) = %q, want %q", c.first[:min(len(c.first), 20)], got, c.want)
		}
	}
}

// The stub answers only listed names; any other query gets NXDOMAIN and
// is never passed on.
func TestStubNeverForwardsUnlisted(t *testing.T) {
	l := &allowlist{hosts: []launch.HostRule{{Pattern: "*.npmjs.org", Ports: []uint16{443}}}, answered: map[netip.Addr][]string{}}
	asked := 0
	ask := func(q []byte) []byte {
		asked++
		var p dnsmessage.Parser
		h, _ := p.Start(q)
		qq, _ := p.Question()
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true})
		b.StartQuestions()
		b.Question(qq)
		b.StartAnswers()
		b.AResource(dnsmessage.ResourceHeader{Name: qq.Name, Class: dnsmessage.ClassINET, TTL: 30}, dnsmessage.AResource{A: [4]byte{198, 51, 100, 20}})
		out, _ := b.Finish()
		return out
	}
	query := func(name string) []byte {
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 7, RecursionDesired: true})
		b.StartQuestions()
		b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
		out, _ := b.Finish()
		return out
	}
	var p dnsmessage.Parser
	h, _ := p.Start(l.answer(query("secret-data.evil.example."), ask))
	if asked != 0 || h.RCode != dnsmessage.RCodeNameError || h.ID != 7 {
		t.Errorf("unlisted: asked %d, rcode %v, id %d", asked, h.RCode, h.ID)
	}
	h, _ = p.Start(l.answer(query("registry.npmjs.org."), ask))
	if asked != 1 || h.RCode != dnsmessage.RCodeSuccess {
		t.Errorf("listed: asked %d, rcode %v", asked, h.RCode)
	}
	if n, ok := l.answeredFor(netip.MustParseAddr("198.51.100.20"), 443); !ok || n != "registry.npmjs.org" {
		t.Errorf("the answered address is not recorded: %q %v", n, ok)
	}
	if _, ok := l.answeredFor(netip.MustParseAddr("198.51.100.20"), 22); ok {
		t.Error("an answered address on an unlisted port")
	}
}

// FuzzSandboxInput: what the sandbox sends the relay (a connection's first
// bytes, a DNS query) is hostile input: no panic, and an answer to a
// query for an unlisted name never comes from upstream.
func FuzzSandboxInput(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: github.com\r\n\r\n"))
	f.Add([]byte{22, 3, 1, 0, 60, 1, 0, 0, 56, 3, 3})
	f.Add([]byte("\x00\x07\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x08internet\x04test\x00\x00\x01\x00\x01"))
	l := &allowlist{hosts: []launch.HostRule{{Pattern: "internet.test", Ports: []uint16{443}}}, answered: map[netip.Addr][]string{}}
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = requestedName(b)
		_ = complete(b)
		l.answer(b, func(q []byte) []byte {
			var p dnsmessage.Parser
			if _, err := p.Start(q); err != nil {
				t.Fatal("asked upstream for a query that does not parse")
			}
			qq, err := p.Question()
			if err != nil || !strings.EqualFold(strings.TrimSuffix(qq.Name.String(), "."), "internet.test") {
				t.Fatalf("asked upstream for an unlisted name: %v %v", qq.Name, err)
			}
			return nil
		})
	})
}

// A sandbox cannot make the relay hold more than its slots: a connection
// beyond them is reset at once, and a closed one frees its slot.
func TestRelaySlots(t *testing.T) {
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	d := &relayDriver{}
	d.init(2)
	d.serve(func() {
		d.acceptLoop(l, func(c *net.TCPConn) { c.Read(make([]byte, 1)) }) // held until the client closes
	})
	var clients []net.Conn
	defer func() {
		l.Close()
		for _, c := range clients {
			c.Close() // ends the relay's reads
		}
		d.wg.Wait()
	}()

	// held dials the relay and reports whether it holds the connection
	// rather than resetting it.
	held := func() (net.Conn, bool) {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			return nil, false // reset as it connected
		}
		clients = append(clients, c)
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, err = c.Read(make([]byte, 1))
		return c, errors.Is(err, os.ErrDeadlineExceeded)
	}
	a, aHeld := held()
	_, bHeld := held()
	if !aHeld || !bHeld {
		t.Fatal("a connection within the slots was refused")
	}
	if _, ok := held(); ok {
		t.Fatal("a third connection was held with two slots")
	}
	a.Close()
	for deadline := time.Now().Add(2 * time.Second); ; {
		if _, ok := held(); ok {
			break // a's slot is free again
		}
		if time.Now().After(deadline) {
			t.Fatal("a closed connection never freed its slot")
		}
	}
}
