package network

import (
	"crypto/tls"
	"net"
	"net/netip"
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
