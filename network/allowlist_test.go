package network

import (
	"bufio"
	"bytes"
	"context"
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

// clientHello is what a real TLS client sends first for serverName (one
// record, as Go sends it; over 1,500 bytes with its post-quantum key
// share).
func clientHello(t testing.TB, serverName string) []byte {
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

// withSNI is a real client's ClientHello with name as its SNI, which
// crypto/tls would not send (it leaves out what parses as an address).
func withSNI(t testing.TB, name string) []byte {
	t.Helper()
	stand := strings.Repeat("s", len(name)-5) + ".test"
	return bytes.Replace(clientHello(t, stand), []byte(stand), []byte(name), 1)
}

// splitRecords re-frames a one-record ClientHello as two records, the
// first holding at bytes of the handshake message.
func splitRecords(hello []byte, at int) []byte {
	body := hello[5:]
	rec := func(b []byte) []byte {
		return append([]byte{22, hello[1], hello[2], byte(len(b) >> 8), byte(len(b))}, b...)
	}
	return append(rec(body[:at]), rec(body[at:])...)
}

func TestClassify(t *testing.T) {
	hello := clientHello(t, "Registry.NPMJS.org")
	if len(hello) < 1500 {
		t.Logf("Go's ClientHello is %d bytes", len(hello))
	}
	for _, c := range []struct {
		what   string
		first  []byte
		final  bool
		kind   firstKind
		name   string
		reason string
	}{
		{"a ClientHello", hello, false, tlsHello, "registry.npmjs.org", ""},
		{"over two records", splitRecords(hello, 3), false, tlsHello, "registry.npmjs.org", ""},
		{"over two records, later cut", splitRecords(hello, 300), false, tlsHello, "registry.npmjs.org", ""},
		{"the first record only", splitRecords(hello, 300)[:305], false, undecided, "", ""},
		{"the first record, then nothing", splitRecords(hello, 300)[:305], true, tlsHello, "", "not whole within"},
		{"half a record", hello[:len(hello)/2], false, undecided, "", ""},
		{"half a record, then nothing", hello[:len(hello)/2], true, tlsHello, "", "not whole within"},
		{"a smuggled address", withSNI(t, "::ffff:198.51.100.10%x.allowed.test"), false, tlsHello, "::ffff:198.51.100.10%x.allowed.test", "not a host name: the SNI holds ':'"},
		{"no SNI", clientHello(t, ""), false, tlsHello, "", "without a server name"},
		{"an alert record", []byte{21, 3, 1, 0, 2, 1, 0}, false, tlsHello, "", "a TLS record of type 21 before the ClientHello"},
		{"a record of the wrong type in the middle", append(splitRecords(hello, 300)[:305], 23, 3, 3, 0, 1, 0), false, tlsHello, "", "type 23"},
		{"HTTP", []byte("GET / HTTP/1.1\r\nUser-Agent: x\r\nHost: github.com:80\r\n\r\n"), false, httpRequest, "github.com", ""},
		{"HTTP, head not whole", []byte("GET / HTTP/1.1\r\nHost: github.com\r\n"), false, undecided, "", ""},
		{"HTTP, head not whole, then nothing", []byte("GET / HTTP/1.1\r\nHost: github.com\r\n"), true, httpRequest, "", "not whole within"},
		{"HTTP, smuggled address", []byte("GET / HTTP/1.1\r\nHost: ::ffff:198.51.100.10%x.allowed.test\r\n\r\n"), false, httpRequest, "", "not a host name: the Host holds ':'"},
		{"HTTP, bare LF", []byte("GET / HTTP/1.1\nHost: github.com\n\n"), false, httpRequest, "", "bare LF"},
		{"HTTP, bare LF before the head ends", []byte("GET / HTTP/1.1\nHost: git"), false, httpRequest, "", "bare LF"},
		{"HTTP, bare LF in the last line", []byte("GET / HTTP/1.1\r\nHost: github.com\r\nX: a\nb\r\n\r\n"), false, httpRequest, "", "bare LF"},
		{"HTTP, bare CR", []byte("GET / HTTP/1.1\r\nHost: github.com\rX: 1\r\n\r\n"), false, httpRequest, "", "bare CR"},
		{"HTTP, a CR last so far", []byte("GET / HTTP/1.1\r"), false, undecided, "", ""},
		{"a space first", []byte(" GET / HTTP/1.1\r\n"), false, other, "", ""},
		{"a method of 21 letters", []byte("ABCDEFGHIJKLMNOPQRSTU / HTTP/1.1\r\n"), false, other, "", ""},
		{"HTTP, absolute form naming another", []byte("GET http://other.test/ HTTP/1.1\r\nHost: github.com\r\n\r\n"), false, httpRequest, "", "the request target names other.test"},
		{"HTTP, absolute form", []byte("GET http://GitHub.com:80/x HTTP/1.1\r\nHost: github.com\r\n\r\n"), false, httpRequest, "github.com", ""},
		{"h2c", []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), false, httpRequest, "", "h2c"},
		{"CONNECT", []byte("CONNECT other.test:443 HTTP/1.1\r\nHost: github.com\r\n\r\n"), false, httpRequest, "", "CONNECT"},
		{"two Hosts", []byte("GET / HTTP/1.1\r\nHost: github.com\r\nHost: other.test\r\n\r\n"), false, httpRequest, "", "2 Host headers"},
		{"no Host", []byte("GET / HTTP/1.0\r\n\r\n"), false, httpRequest, "", "0 Host headers"},
		{"h2c upgrade", []byte("GET / HTTP/1.1\r\nHost: github.com\r\nUpgrade: h2c\r\n\r\n"), false, httpRequest, "", "Upgrade"},
		{"a method cut", []byte("GE"), false, undecided, "", ""},
		{"ssh", []byte("SSH-2.0-OpenSSH_9.2\r\n"), false, other, "", ""},
		{"nothing", nil, true, silent, "", ""},
		{"nothing yet", nil, false, undecided, "", ""},
	} {
		f := classify(c.first, c.final)
		if f.kind != c.kind || c.reason == "" && (f.name != c.name || f.reason != "") || c.reason != "" && !strings.Contains(f.reason, c.reason) {
			t.Errorf("%s: kind %d name %q reason %q; want kind %d name %q reason %q", c.what, f.kind, f.name, f.reason, c.kind, c.name, c.reason)
		}
	}
}

// readFirst reads a ClientHello sent over many TCP segments and late, up
// to nameWait; a client that says nothing on a nameless port is taken
// for silent after silentWait.
func TestReadFirst(t *testing.T) {
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	hello := splitRecords(clientHello(t, "cdn-a.test"), 200)
	send := func(nameless bool, writes ...any) (first, time.Duration) {
		c, err := net.DialTCP("tcp", nil, l.Addr().(*net.TCPAddr))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetNoDelay(true)
		in, err := l.AcceptTCP()
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		go func() {
			for _, w := range writes {
				switch w := w.(type) {
				case time.Duration:
					time.Sleep(w)
				case []byte:
					c.Write(w)
				}
			}
		}()
		start := time.Now()
		return readFirst(in, nameless), time.Since(start)
	}
	if f, _ := send(false, hello[:3], 20*time.Millisecond, hello[3:100], 20*time.Millisecond, hello[100:]); f.name != "cdn-a.test" || f.reason != "" {
		t.Errorf("a hello over three segments: %q %q", f.name, f.reason)
	}
	if f, took := send(false, 400*time.Millisecond, hello); f.name != "cdn-a.test" || f.reason != "" || took < 400*time.Millisecond {
		t.Errorf("a hello 400 ms late: %q %q after %v", f.name, f.reason, took)
	}
	if f, took := send(false, hello[:100]); !strings.Contains(f.reason, "not whole") || took < nameWait || took > nameWait+300*time.Millisecond {
		t.Errorf("a hello cut short: %q after %v", f.reason, took)
	}
	if f, took := send(true); f.kind != silent || took > silentWait+100*time.Millisecond {
		t.Errorf("silence on a nameless port: kind %d after %v", f.kind, took)
	}
	if f, took := send(false); f.kind != silent || took < nameWait {
		t.Errorf("silence on a named port: kind %d after %v", f.kind, took)
	}
}

// answerFrom is an upstream resolver that answers A queries with addr,
// and records the queries it was sent.
func answerFrom(addr [4]byte, asked *[][]byte) askFunc { return answersFrom(addr, 1, asked) }

// answersFrom answers A queries with n addresses from addr on.
func answersFrom(addr [4]byte, n int, asked *[][]byte) askFunc {
	return func(_ context.Context, q []byte, ok func([]byte) bool, _ bool) []byte {
		*asked = append(*asked, q)
		var p dnsmessage.Parser
		h, _ := p.Start(q)
		qq, _ := p.Question()
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true})
		b.StartQuestions()
		b.Question(qq)
		b.StartAnswers()
		for i := range n {
			if qq.Type == dnsmessage.TypeA {
				a := addr
				a[3] += byte(i)
				b.AResource(dnsmessage.ResourceHeader{Name: qq.Name, Class: dnsmessage.ClassINET, TTL: 30}, dnsmessage.AResource{A: a})
			}
		}
		out, _ := b.Finish()
		if !ok(out) {
			return nil
		}
		return out
	}
}

// query is a client's DNS query for name.
func query(name string, id uint16) []byte {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true})
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	out, _ := b.Finish()
	return out
}

// The stub answers only listed host names; any other query gets NXDOMAIN
// and is never passed on; what it passes on is a query it built.
func TestStubNeverForwardsUnlisted(t *testing.T) {
	log, _ := openNetLog("")
	l := newAllowlist([]launch.HostRule{{Pattern: "*.npmjs.org", Ports: []uint16{443}}, {Pattern: "npmjs.org", Ports: []uint16{22}, Nameless: true}}, log)
	var asked [][]byte
	ask := answerFrom([4]byte{198, 51, 100, 20}, &asked)
	var p dnsmessage.Parser
	for _, name := range []string{"secret-data.evil.example.", "::ffff:198.51.100.10%x.npmjs.org.", "x\\.y.npmjs.org."} {
		h, _ := p.Start(stub(context.Background(), l, query(name, 7), false, ask))
		if len(asked) != 0 || h.RCode != dnsmessage.RCodeNameError || h.ID != 7 {
			t.Errorf("%s: asked %d, rcode %v, id %d", name, len(asked), h.RCode, h.ID)
		}
	}
	client := query("Registry.NPMJS.org.", 7)
	resp := stub(context.Background(), l, client, false, ask)
	h, _ := p.Start(resp)
	qq, _ := p.Question()
	if len(asked) != 1 || h.RCode != dnsmessage.RCodeSuccess || h.ID != 7 || qq.Name.String() != "Registry.NPMJS.org." {
		t.Fatalf("listed: asked %d, rcode %v, id %d, question %v", len(asked), h.RCode, h.ID, qq.Name)
	}
	if bytes.Equal(asked[0], client) || bytes.Contains(asked[0], []byte("NPMJS")) {
		t.Errorf("the client's bytes went upstream: %q", asked[0])
	}
	if l.answered.names(netip.MustParseAddr("198.51.100.20")) == nil {
		t.Error("the answered address is not recorded")
	}
	// The nameless rule takes the address the stub gave out for its
	// name, on its port only.
	stub(context.Background(), l, query("npmjs.org.", 8), false, ask)
	if n, ok := l.namelessFor(netip.MustParseAddrPort("198.51.100.20:22")); !ok || n != "npmjs.org" {
		t.Errorf("nameless: %q %v", n, ok)
	}
	for _, dst := range []string{"198.51.100.20:443", "198.51.100.21:22"} {
		if n, ok := l.namelessFor(netip.MustParseAddrPort(dst)); ok {
			t.Errorf("nameless %s: %q", dst, n)
		}
	}
}

// decide connects only where a listed name, checked, resolves; the
// address fallback exists only for nameless rules.
func TestDecide(t *testing.T) {
	log, _ := openNetLog("")
	l := newAllowlist([]launch.HostRule{
		{Pattern: "cdn-a.test", Ports: []uint16{443, 80}},
		{Pattern: "*.allowed.test", Ports: []uint16{8080}},
		{Pattern: "git.test", Ports: []uint16{22}, Nameless: true},
	}, log)
	var asked [][]byte
	stub(context.Background(), l, query("cdn-a.test.", 1), false, answerFrom([4]byte{198, 51, 100, 20}, &asked))
	stub(context.Background(), l, query("git.test.", 2), false, answerFrom([4]byte{198, 51, 100, 40}, &asked))
	resolve := func(_ context.Context, name string) ([]netip.Addr, error) {
		switch name {
		case "cdn-a.test":
			return []netip.Addr{netip.MustParseAddr("198.51.100.20"), netip.MustParseAddr("198.51.100.21")}, nil
		case "x.allowed.test":
			return []netip.Addr{netip.MustParseAddr("198.51.100.30")}, nil
		case "empty.allowed.test":
			return nil, nil
		}
		return nil, errors.New("NXDOMAIN")
	}
	may := func(a netip.AddrPort) bool { return !netip.MustParsePrefix("192.168.0.0/16").Contains(a.Addr()) }
	byNet := func(a netip.AddrPort) bool { return a == netip.MustParseAddrPort("192.168.77.10:5432") }
	hello := func(name string) first { return classify(clientHello(t, name), false) }
	http := func(host string) first { return classify([]byte("GET / HTTP/1.1\r\nHost: "+host+"\r\n\r\n"), false) }
	for _, c := range []struct {
		what   string
		dst    string
		f      first
		to     string
		reason string
	}{
		{"SNI listed", "198.51.100.20:443", hello("cdn-a.test"), "198.51.100.20:443", ""},
		{"SNI listed, another address", "203.0.113.9:443", hello("cdn-a.test"), "198.51.100.20:443", ""},
		{"SNI unlisted at a shared address", "198.51.100.20:443", hello("cdn-b.test"), "", "not on the list"},
		{"SNI listed, wrong port", "198.51.100.20:8443", hello("cdn-a.test"), "", "not on the list with port 8443"},
		{"smuggled address", "198.51.100.20:8080", http("::ffff:198.51.100.10%x.allowed.test"), "", "holds ':'"},
		{"wildcard", "198.51.100.99:8080", http("x.allowed.test"), "198.51.100.30:8080", ""},
		{"does not resolve", "198.51.100.99:8080", http("y.allowed.test"), "", "does not resolve: NXDOMAIN"},
		{"resolves to nothing", "198.51.100.99:8080", http("empty.allowed.test"), "", "does not resolve"},
		{"late hello", "198.51.100.20:443", classify(clientHello(t, "cdn-b.test")[:40], true), "", "not whole"},
		{"silent at a shared address", "198.51.100.20:443", first{kind: silent}, "", "sent nothing"},
		{"ssh at a shared address", "198.51.100.20:443", classify([]byte("SSH-2.0-x\r\n"), false), "", "neither TLS nor HTTP"},
		{"ssh, nameless", "198.51.100.40:22", classify([]byte("SSH-2.0-x\r\n"), false), "198.51.100.40:22", ""},
		{"silent, nameless", "198.51.100.40:22", first{kind: silent}, "198.51.100.40:22", ""},
		{"nameless, another address", "198.51.100.20:22", first{kind: silent}, "", "sent nothing"},
		{"TLS on a nameless port names its host", "198.51.100.40:22", hello("cdn-b.test"), "", "not on the list"},
		{"--allow-net", "192.168.77.10:5432", first{kind: silent}, "192.168.77.10:5432", ""},
		{"--allow-net, another port", "192.168.77.10:5433", first{kind: silent}, "", "sent nothing"},
	} {
		v := l.decide(context.Background(), netip.MustParseAddrPort(c.dst), c.f, resolve, may, byNet)
		to := ""
		if v.reason == "" {
			to = v.to.String()
		}
		if to != c.to || !strings.Contains(v.reason, c.reason) || c.reason == "" && v.reason != "" {
			t.Errorf("%s: to %q reason %q; want to %q reason %q", c.what, to, v.reason, c.to, c.reason)
		}
	}
}

// Plaintext HTTP: each request on a connection names its host; a
// request's body is passed by its framing, so a request inside a body is
// no request, and a framing in doubt is refused.
func TestGuardHTTP(t *testing.T) {
	for _, c := range []struct {
		what, in, passed, reason string
	}{
		{"two requests, one host",
			"GET / HTTP/1.1\r\nHost: a.test\r\n\r\nGET /2 HTTP/1.1\r\nHost: a.test:80\r\n\r\n",
			"GET / HTTP/1.1\r\nHost: a.test\r\n\r\nGET /2 HTTP/1.1\r\nHost: a.test:80\r\n\r\n", ""},
		{"the second names another",
			"GET / HTTP/1.1\r\nHost: a.test\r\n\r\nGET / HTTP/1.1\r\nHost: b.test\r\n\r\n",
			"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n", "request 2 on the connection names b.test, not a.test"},
		{"the second in absolute form",
			"GET / HTTP/1.1\r\nHost: a.test\r\n\r\nGET http://b.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n",
			"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n", "the request target names b.test"},
		{"a request in a body",
			"POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 38\r\n\r\nGET / HTTP/1.1\r\nHost: b.test\r\n\r\n\r\n\r\n",
			"POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 38\r\n\r\nGET / HTTP/1.1\r\nHost: b.test\r\n\r\n\r\n\r\n", ""},
		{"chunked",
			"POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\nGET / HTTP/1.1\r\nHost: b.test\r\n\r\n",
			"POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n", "names b.test"},
		{"both framings",
			"POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			"", "both Content-Length and Transfer-Encoding"},
		{"two lengths",
			"POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
			"", "Content-Length"},
		{"a bare LF in the second",
			"GET / HTTP/1.1\r\nHost: a.test\r\n\r\nGET / HTTP/1.1\nHost: b.test\n\n",
			"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n", "bare LF"},
		{"a bad chunk size",
			"POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\n",
			"POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n", "chunk size"},
		{"a folded header",
			"GET / HTTP/1.1\r\nHost: a.test\r\nX: 1\r\n Host: b.test\r\n\r\n",
			"", "folded"},
		{"a head over the bound",
			"GET / HTTP/1.1\r\nHost: a.test\r\nX: " + strings.Repeat("x", maxHead) + "\r\n\r\n",
			"", "over 32 KiB"},
	} {
		var out bytes.Buffer
		reason := guardHTTP(bufio.NewReaderSize(strings.NewReader(c.in), 4096), &out, "a.test", anyRead)
		if out.String() != c.passed || !strings.Contains(reason, c.reason) || c.reason == "" && reason != "" {
			t.Errorf("%s: passed %q, reason %q; want %q, %q", c.what, out.String(), reason, c.passed, c.reason)
		}
	}
}

// The answered table keeps answeredMax addresses, the most recently used,
// each until its answer expires.
func TestAnsweredTable(t *testing.T) {
	tab := newAnsweredTable()
	now := time.Unix(1e9, 0)
	tab.now = func() time.Time { return now }
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}) }
	tab.record(addr(0), "first.test", 0)
	for i := 1; i < answeredMax+1000; i++ {
		tab.record(addr(i), "x.test", time.Second)
		if i%100 == 0 {
			tab.names(addr(0)) // used: kept
		}
	}
	if tab.len() != answeredMax {
		t.Errorf("%d addresses kept, want %d", tab.len(), answeredMax)
	}
	if n := tab.names(addr(0)); len(n) != 1 || n[0] != "first.test" {
		t.Errorf("the address in use was dropped: %v", n)
	}
	if n := tab.names(addr(1)); n != nil {
		t.Errorf("the least recently used address was kept: %v", n)
	}
	for i := range answeredNamesMax + 3 {
		tab.record(addr(0), strings.Repeat("n", i+1)+".test", 0)
	}
	if n := tab.names(addr(0)); len(n) != answeredNamesMax {
		t.Errorf("%d names kept for one address", len(n))
	}
	now = now.Add(answeredTTLMin + time.Second)
	if n := tab.names(addr(0)); n != nil {
		t.Errorf("an expired answer was kept: %v", n)
	}
}

// A flood of refusals fills only its share of the log: the allowed
// connections are all there, the file stays under the cap, and one line
// counts what was dropped.
func TestNetLogCap(t *testing.T) {
	path := t.TempDir() + "/log.jsonl"
	log, err := openNetLog(path)
	if err != nil {
		t.Fatal(err)
	}
	log.add(logEntry{Kind: "tcp", Name: "cdn-a.test", Verdict: "allowed"})
	for i := range 100000 {
		log.add(logEntry{Kind: "dns", Name: strings.Repeat("x", 60) + ".evil\x1b[2J.test", Verdict: "refused", Reason: "not on the list", Port: uint16(i)})
	}
	log.add(logEntry{Kind: "tcp", Name: "cdn-a.test", Verdict: "allowed", Bytes: 7})
	sum := log.Summary()
	log.close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > NetLogCap {
		t.Errorf("the log is %d bytes, over its cap %d", len(b), NetLogCap)
	}
	if n := bytes.Count(b, []byte(`"verdict":"allowed"`)); n != 2 {
		t.Errorf("%d allowed entries in the log, want 2", n)
	}
	if !bytes.Contains(b, []byte(`"kind":"dropped","verdict":"refused","reason":"`)) {
		t.Errorf("no dropped line: %s", b[len(b)-300:])
	}
	if !strings.HasPrefix(sum, "100000 refused") || strings.Contains(sum, "\x1b") || !strings.Contains(sum, `\x1b[2J`) {
		t.Errorf("summary: %q", sum)
	}
}

// FuzzSandboxInput: what the sandbox sends the relay (a connection's first
// bytes, a DNS query, plaintext HTTP) is hostile input: no panic, and an
// answer to a query for an unlisted name never comes from upstream.
func FuzzSandboxInput(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: github.com\r\n\r\n"))
	f.Add([]byte{22, 3, 1, 0, 60, 1, 0, 0, 56, 3, 3})
	f.Add(clientHello(f, "internet.test"))
	f.Add([]byte("\x00\x07\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x08internet\x04test\x00\x00\x01\x00\x01"))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: internet.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"))
	log, _ := openNetLog("")
	l := newAllowlist([]launch.HostRule{{Pattern: "internet.test", Ports: []uint16{443}}}, log)
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = classify(b, false)
		_ = classify(b, true)
		var out bytes.Buffer
		_ = guardHTTP(bufio.NewReaderSize(bytes.NewReader(b), 4096), &out, "internet.test", anyRead)
		if out.Len() > len(b) {
			t.Fatal("passed more than was sent")
		}
		stub(context.Background(), l, b, false, func(_ context.Context, q []byte, _ func([]byte) bool, _ bool) []byte {
			var p dnsmessage.Parser
			if _, err := p.Start(q); err != nil {
				t.Fatal("asked upstream a query that does not parse")
			}
			qq, err := p.Question()
			if err != nil || qq.Name.String() != "internet.test." {
				t.Fatalf("asked upstream for an unlisted name: %v %v", qq.Name, err)
			}
			return nil
		})
	})
}

// FuzzDecide is decide's property: whatever the first bytes and the rule
// set, the relay connects only to an address that an allowed name
// resolved to (by lookup, or by the stub's answer) or an
// --allow-net one, on a port allowed for it.
func FuzzDecide(f *testing.F) {
	f.Add(clientHello(f, "a.test"), []byte("a.test:443"), uint16(443), byte(20), byte(0))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: ::ffff:198.51.100.10%x.a.test\r\n\r\n"), []byte("*.a.test:80"), uint16(80), byte(20), byte(1))
	f.Add([]byte("SSH-2.0-x\r\n"), []byte("a.test:22/nameless"), uint16(22), byte(20), byte(2))
	f.Add([]byte{}, []byte("*.test:22/nameless"), uint16(22), byte(9), byte(3))
	f.Fuzz(func(t *testing.T, firstBytes, rules []byte, port uint16, last, flags byte) {
		var hosts []launch.HostRule
		for _, r := range strings.Split(string(rules), ",") {
			if h, err := launch.ParseHost(r, "fuzz"); err == nil {
				hosts = append(hosts, h)
			}
		}
		log, _ := openNetLog("")
		l := newAllowlist(hosts, log)
		// Every name resolves to an address of its own (by its length and
		// first byte); the stub answers every listed name of the rules
		// with the dialled address, some of them.
		resolved := map[netip.Addr][]string{}
		addrOf := func(name string) netip.Addr {
			return netip.AddrFrom4([4]byte{198, 51, byte(len(name)), name[0]})
		}
		resolve := func(_ context.Context, name string) ([]netip.Addr, error) {
			a := addrOf(name)
			resolved[a] = append(resolved[a], name)
			return []netip.Addr{a}, nil
		}
		dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, last}), port)
		for _, h := range hosts {
			if flags&1 != 0 {
				name := strings.Replace(h.Pattern, "*.", "x.", 1)
				l.answered.record(dst.Addr(), name, time.Minute)
				resolved[dst.Addr()] = append(resolved[dst.Addr()], name)
			}
		}
		allowNet := netip.MustParseAddrPort("192.168.77.10:5432")
		may := func(a netip.AddrPort) bool { return a.Addr() != netip.MustParseAddr("198.51.100.66") }
		byNet := func(a netip.AddrPort) bool { return flags&2 != 0 && a == allowNet }
		if flags&4 != 0 {
			dst = allowNet
		}
		for _, final := range []bool{false, true} {
			fb := classify(firstBytes, final)
			if fb.kind == undecided {
				continue
			}
			v := l.decide(context.Background(), dst, fb, resolve, may, byNet)
			if v.reason != "" {
				continue
			}
			if v.byNet {
				if !byNet(v.to) || v.to != dst {
					t.Fatalf("let through as --allow-net to %v", v.to)
				}
				continue
			}
			if v.to.Port() != port || !may(v.to) {
				t.Fatalf("to %v: not the dialled port %d, or denied", v.to, port)
			}
			ok := false
			for _, name := range resolved[v.to.Addr()] {
				ok = ok || l.allows(name, port)
			}
			if !ok {
				t.Fatalf("to %v, which no name allowed on port %d resolved to (first %q, rules %v, verdict %+v)", v.to, port, firstBytes, hosts, v)
			}
			if fb.kind == tlsHello || fb.kind == httpRequest {
				if _, err := hostName(v.name); err != nil || !l.allows(v.name, port) {
					t.Fatalf("a named connection let through for %q", v.name)
				}
			}
		}
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

// inet's forwarder asks for every name, but as a query it built: a fresh
// ID, the one question, its own EDNS; the answer goes back re-addressed,
// truncated when over what the client takes over UDP.
func TestStubInet(t *testing.T) {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 9, RecursionDesired: true})
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName("Many.Example."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	b.StartAdditionals()
	b.UnknownResource(dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName("x.example."), Type: 99, Class: dnsmessage.ClassINET},
		dnsmessage.UnknownResource{Type: 99, Data: []byte("smuggled")})
	client, _ := b.Finish()
	var asked [][]byte
	ask := answersFrom([4]byte{198, 51, 100, 0}, 60, &asked)
	var p dnsmessage.Parser
	for _, tcp := range []bool{false, true} {
		asked = nil
		h, err := p.Start(stub(context.Background(), nil, client, tcp, ask))
		if err != nil || h.ID != 9 || h.Truncated == tcp {
			t.Fatalf("tcp %v: %v, id %d, truncated %v", tcp, err, h.ID, h.Truncated)
		}
		p.SkipAllQuestions()
		answers, err := p.AllAnswers()
		if err != nil || tcp && len(answers) != 60 || !tcp && len(answers) != 0 {
			t.Errorf("tcp %v: %d answers, %v", tcp, len(answers), err)
		}
		if len(asked) != 1 || bytes.Contains(asked[0], []byte("smuggled")) {
			t.Errorf("tcp %v: sent upstream %q", tcp, asked)
		}
		var up dnsmessage.Message
		if err := up.Unpack(asked[0]); err != nil || len(up.Questions) != 1 || len(up.Additionals) != 1 || up.Additionals[0].Header.Type != dnsmessage.TypeOPT {
			t.Errorf("tcp %v: the upstream query: %v %+v", tcp, err, up)
		}
	}
}

// parseQuery takes a standard query with one question, and the EDNS size
// of an OPT record among the additionals; anything else is no query.
func TestParseQuery(t *testing.T) {
	build := func(h dnsmessage.Header, questions int, extra func(*dnsmessage.Builder)) []byte {
		b := dnsmessage.NewBuilder(nil, h)
		b.StartQuestions()
		for range questions {
			b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName("a.test."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
		}
		b.StartAdditionals()
		if extra != nil {
			extra(&b)
		}
		out, _ := b.Finish()
		return out
	}
	opt := func(size uint16) func(*dnsmessage.Builder) {
		return func(b *dnsmessage.Builder) {
			b.UnknownResource(dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName("x.test."), Type: 99, Class: dnsmessage.ClassINET},
				dnsmessage.UnknownResource{Type: 99, Data: []byte("x")})
			var rh dnsmessage.ResourceHeader
			rh.SetEDNS0(int(size), dnsmessage.RCodeSuccess, false)
			b.OPTResource(rh, dnsmessage.OPTResource{})
		}
	}
	for _, c := range []struct {
		what  string
		b     []byte
		ok    bool
		edns  bool
		limit int
	}{
		{"a query", build(dnsmessage.Header{ID: 1}, 1, nil), true, false, 512},
		{"with EDNS 1232", build(dnsmessage.Header{ID: 1}, 1, opt(1232)), true, true, 1232},
		{"with EDNS 100", build(dnsmessage.Header{ID: 1}, 1, opt(100)), true, true, 512},
		{"a response", build(dnsmessage.Header{ID: 1, Response: true}, 1, nil), false, false, 0},
		{"opcode 2", build(dnsmessage.Header{ID: 1, OpCode: 2}, 1, nil), false, false, 0},
		{"two questions", build(dnsmessage.Header{ID: 1}, 2, nil), false, false, 0},
		{"no question", build(dnsmessage.Header{ID: 1}, 0, nil), false, false, 0},
		{"an answer count with no answer", append(build(dnsmessage.Header{ID: 1}, 1, nil)[:7:7], append([]byte{1}, build(dnsmessage.Header{ID: 1}, 1, nil)[8:]...)...), false, false, 0},
		{"an additional count with none", append(build(dnsmessage.Header{ID: 1}, 1, nil)[:11:11], append([]byte{1}, build(dnsmessage.Header{ID: 1}, 1, nil)[12:]...)...), false, false, 0},
	} {
		q, err := parseQuery(c.b)
		if (err == nil) != c.ok || c.ok && (q.edns != c.edns || q.udpLimit != c.limit || q.id != 1) {
			t.Errorf("%s: %+v, %v", c.what, q, err)
		}
	}
}

// answers takes only the upstream's response to the very query sent.
func TestAnswers(t *testing.T) {
	resp := func(h dnsmessage.Header, name string, typ dnsmessage.Type, class dnsmessage.Class) []byte {
		b := dnsmessage.NewBuilder(nil, h)
		b.StartQuestions()
		b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: class})
		out, _ := b.Finish()
		return out
	}
	ok := dnsmessage.Header{ID: 7, Response: true}
	for _, c := range []struct {
		what string
		b    []byte
		want bool
	}{
		{"the response", resp(ok, "a.test.", dnsmessage.TypeA, dnsmessage.ClassINET), true},
		{"in other case", resp(ok, "A.Test.", dnsmessage.TypeA, dnsmessage.ClassINET), true},
		{"another ID", resp(dnsmessage.Header{ID: 8, Response: true}, "a.test.", dnsmessage.TypeA, dnsmessage.ClassINET), false},
		{"a query", resp(dnsmessage.Header{ID: 7}, "a.test.", dnsmessage.TypeA, dnsmessage.ClassINET), false},
		{"another name", resp(ok, "b.test.", dnsmessage.TypeA, dnsmessage.ClassINET), false},
		{"another type", resp(ok, "a.test.", dnsmessage.TypeAAAA, dnsmessage.ClassINET), false},
		{"another class", resp(ok, "a.test.", dnsmessage.TypeA, dnsmessage.ClassCHAOS), false},
		{"garbage", []byte{0, 7, 0x80}, false},
	} {
		if got := answers(c.b, 7, "a.test.", dnsmessage.TypeA, dnsmessage.ClassINET); got != c.want {
			t.Errorf("%s: %v", c.what, got)
		}
	}
}

// parseHead is strict: what a server could read two ways is refused.
func TestParseHead(t *testing.T) {
	for _, c := range []struct{ head, name, reason string }{
		{"GET http://a.test HTTP/1.1\r\nHost: a.test\r\n\r\n", "a.test", ""},
		{"GET http://a.test?x HTTP/1.1\r\nHost: a.test:80\r\n\r\n", "a.test", ""},
		{"OPTIONS * HTTP/1.1\r\nHost: a.test\r\n\r\n", "a.test", ""},
		{"GET * HTTP/1.1\r\nHost: a.test\r\n\r\n", "", "no form"},
		{"GET http:///x HTTP/1.1\r\nHost: a.test\r\n\r\n", "", "without a host"},
		{"GET http://u@a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n", "", "holds '@'"},
		{"GET /\x7f HTTP/1.1\r\nHost: a.test\r\n\r\n", "", "control or non-ASCII"},
		{"GET /\x01 HTTP/1.1\r\nHost: a.test\r\n\r\n", "", "control or non-ASCII"},
		{"GET /! HTTP/1.1\r\nHost: a.test\r\n\r\n", "a.test", ""},
		{"GET / HTTP/1.1 x\r\nHost: a.test\r\n\r\n", "", "request line"},
		{"GET / HTTP/1.2\r\nHost: a.test\r\n\r\n", "", "HTTP version"},
		{"get / HTTP/1.1\r\nHost: a.test\r\n\r\n", "", "the method"},
		{"GET / HTTP/1.1\r\nHo st: a.test\r\n\r\n", "", "the header line"},
		{"GET / HTTP/1.1\r\n: a.test\r\n\r\n", "", "the header line"},
		{"GET / HTTP/1.1\r\nHost a.test\r\n\r\n", "", "the header line"},
		{"GET / HTTP/1.1\r\nHost: a.test\r\nX: a\x01b\r\n\r\n", "", "control byte"},
		{"GET / HTTP/1.1\r\nHost: a.test\r\nX: a\x7fb\r\n\r\n", "", "control byte"},
		{"GET / HTTP/1.1\r\nHost: a.test\r\nX: a\tb\r\n\r\n", "a.test", ""},
		{"POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: -1\r\n\r\n", "", "Content-Length"},
		{"POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: +5\r\n\r\n", "", "Content-Length"},
		{"POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", "a.test", ""},
		{"POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", "", "only chunked, once"},
		{"POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "", "only chunked, once"},
		{"POST / HTTP/1.0\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n", "", "HTTP/1.0"},
		{"GET / HTTP/1.1\r\nHost: a.test:\r\n\r\n", "", "holds ':'"},
		{"GET / HTTP/1.1\r\nHost: a.test:8x\r\n\r\n", "", "holds ':'"},
		{"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", "", "holds '['"},
	} {
		h, err := parseHead([]byte(c.head))
		switch {
		case c.reason == "" && (err != nil || h.name != c.name):
			t.Errorf("%q: %q, %v; want %q", c.head, h.name, err, c.name)
		case c.reason != "" && (err == nil || !strings.Contains(err.Error(), c.reason)):
			t.Errorf("%q: %v; want a reason with %q", c.head, err, c.reason)
		}
	}
	var out bytes.Buffer
	reason := guardHTTP(bufio.NewReader(strings.NewReader("GET / HTTP/1.1\r\nHost: a.test\r\n\r\nGET / HTTP/1.1\r\nHost: a.test\r\nHost: a.test\r\n\r\n")), &out, "a.test", anyRead)
	if !strings.HasPrefix(reason, "request 2 on the connection: 2 Host headers") {
		t.Errorf("a bad second request: %q", reason)
	}
}

// hello is a ClientHello body of the given fields, as helloSNI reads it.
func hello(sid, suites, compression, exts []byte, trailing ...byte) []byte {
	vec := func(lenBytes int, b []byte) []byte {
		n := len(b)
		if lenBytes == 1 {
			return append([]byte{byte(n)}, b...)
		}
		return append([]byte{byte(n >> 8), byte(n)}, b...)
	}
	b := append([]byte{3, 3}, make([]byte, 32)...)
	b = append(b, vec(1, sid)...)
	b = append(b, vec(2, suites)...)
	b = append(b, vec(1, compression)...)
	if exts != nil {
		b = append(b, vec(2, exts)...)
	}
	return append(b, trailing...)
}

// ext is one extension of a ClientHello.
func ext(typ uint16, data []byte) []byte {
	return append([]byte{byte(typ >> 8), byte(typ), byte(len(data) >> 8), byte(len(data))}, data...)
}

// serverName is a server_name extension's data naming each of names
// (type 0, host_name, unless typ says otherwise).
func serverName(typ byte, names ...string) []byte {
	var list []byte
	for _, n := range names {
		list = append(list, typ, byte(len(n)>>8), byte(len(n)))
		list = append(list, n...)
	}
	return append([]byte{byte(len(list) >> 8), byte(len(list))}, list...)
}

// helloSNI reads a ClientHello strictly: a field that does not fit, a
// second server name or extension, or bytes after the end are refused.
func TestHelloSNI(t *testing.T) {
	suites, comp := []byte{0x13, 0x01}, []byte{0}
	sni := ext(0, serverName(0, "a.test"))
	for _, c := range []struct {
		what, name, err string
		msg             []byte
	}{
		{"an SNI", "a.test", "", hello(nil, suites, comp, append(ext(43, []byte{2, 3, 4}), sni...))},
		{"no extensions", "", "", hello(nil, suites, comp, nil)},
		{"no SNI", "", "", hello(nil, suites, comp, ext(43, []byte{2, 3, 4}))},
		{"a session id of 33", "", "session id", hello(make([]byte, 33), suites, comp, sni)},
		{"no cipher suites", "", "cipher suite", hello(nil, nil, comp, sni)},
		{"an odd cipher suite list", "", "cipher suite", hello(nil, []byte{1, 2, 3}, comp, sni)},
		{"no compression", "", "compression", hello(nil, suites, nil, sni)},
		{"bytes after the extensions", "", "do not end", hello(nil, suites, comp, sni, 0)},
		{"an extension twice", "", "twice", hello(nil, suites, comp, append(sni, ext(0, serverName(0, "b.test"))...))},
		{"two server names", "", "more than one", hello(nil, suites, comp, ext(0, serverName(0, "a.test", "b.test")))},
		{"a name of type 1", "", "type 1", hello(nil, suites, comp, ext(0, serverName(1, "a.test")))},
		{"an empty name", "", "malformed server_name", hello(nil, suites, comp, ext(0, serverName(0, "")))},
		{"bytes after the name list", "", "malformed server_name", hello(nil, suites, comp, ext(0, append(serverName(0, "a.test"), 0)))},
		{"a truncated extension", "", "truncated extension", hello(nil, suites, comp, sni[:len(sni)-1])},
		{"cut before the extensions", "", "truncated", hello(nil, suites, comp, nil)[:40]},
	} {
		name, err := helloSNI(c.msg)
		switch {
		case c.err == "" && (err != nil || name != c.name):
			t.Errorf("%s: %q, %v; want %q", c.what, name, err, c.name)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: %q, %v; want an error with %q", c.what, name, err, c.err)
		}
	}
}

// anyRead lets guardHTTP read every head at once (the relay bounds them).
func anyRead(bool) bool { return true }

// TestClassifyLenient: what a lenient server would take for TLS or HTTP
// is taken for it, so that it must name its host, on a nameless port too:
// a TLS alert before the ClientHello, a lower-case method, empty lines
// before the request line.
func TestClassifyLenient(t *testing.T) {
	for _, c := range []struct {
		in   string
		kind firstKind
	}{
		{"\x15\x03\x01\x00\x02\x01\x5a\x16\x03\x01", tlsHello},
		{"\x17\x03\x03\x00\x10", tlsHello},
		{"get / HTTP/1.1\r\nHost: b.test\r\n\r\n", httpRequest},
		{"\r\nGET / HTTP/1.1\r\nHost: b.test\r\n\r\n", httpRequest},
		{"SSH-2.0-OpenSSH_9.2\r\n", other},
	} {
		f := classify([]byte(c.in), true)
		if f.kind != c.kind {
			t.Errorf("%q: kind %v, want %v", c.in, f.kind, c.kind)
		}
		if c.kind != other && f.reason == "" {
			t.Errorf("%q: let through (name %q): a TLS or HTTP client must name an allowed host, well-formed", c.in, f.name)
		}
	}
}

// A name the stub answered goes to the address it gave out with no
// second lookup; any other address is looked up, and the deny set has
// the last word.
func TestDecideAnswered(t *testing.T) {
	log, _ := openNetLog("")
	l := newAllowlist([]launch.HostRule{{Pattern: "cdn-a.test", Ports: []uint16{443}}}, log)
	var asked [][]byte
	stub(context.Background(), l, query("cdn-a.test.", 1), false, answerFrom([4]byte{198, 51, 100, 20}, &asked))
	stub(context.Background(), l, query("cdn-a.test.", 2), false, answerFrom([4]byte{192, 168, 1, 20}, &asked))
	lookups := 0
	resolve := func(context.Context, string) ([]netip.Addr, error) {
		lookups++
		return nil, errors.New("NXDOMAIN")
	}
	may := func(a netip.AddrPort) bool { return !netip.MustParsePrefix("192.168.0.0/16").Contains(a.Addr()) }
	byNet := func(netip.AddrPort) bool { return false }
	hello := func(name string) first { return classify(clientHello(t, name), false) }
	for _, c := range []struct {
		what, dst string
		f         first
		to        string
		lookups   int
	}{
		{"answered", "198.51.100.20:443", hello("cdn-a.test"), "198.51.100.20:443", 0},
		{"not answered: looked up", "198.51.100.21:443", hello("cdn-a.test"), "", 1},
		{"answered, denied", "192.168.1.20:443", hello("cdn-a.test"), "", 1},
		{"another name at the answered address", "198.51.100.20:443", hello("cdn-b.test"), "", 0},
	} {
		lookups = 0
		v := l.decide(context.Background(), netip.MustParseAddrPort(c.dst), c.f, resolve, may, byNet)
		to := ""
		if v.reason == "" {
			to = v.to.String()
		}
		if to != c.to || lookups != c.lookups {
			t.Errorf("%s: to %q (%s) after %d lookups; want %q after %d", c.what, to, v.reason, lookups, c.to, c.lookups)
		}
	}
}
