// Command testpeer plays the hosts of the network test world
// (hack/testworld.sh), and probes them from inside a sandbox.
//
//	testpeer serve [-dns ADDR:PORT] [-unix PATH] [-tls ADDR:PORT] [-http ADDR:PORT] [-messages ADDR:PORT] [-git ADDR:PORT DIR] [-hold ADDR:PORT] ADDR:PORT...
//	    answer every TCP connection with "hello from ADDR:PORT"; serve DNS
//	    (internet.test -> 198.51.100.10, rebind.test -> 192.168.77.10,
//	    cdn-a.test and cdn-b.test -> 198.51.100.20, git.test -> .40,
//	    other.test -> .41), printing "dns-query
//	    NAME" for each query; answer on a unix socket; answer TLS (a
//	    self-signed certificate) with the SNI it got, HTTP with the Host;
//	    play a scripted Messages API (-messages ADDR:PORT, see messagesAPI);
//	    serve git over HTTPS (-git ADDR:PORT DIR, git http-backend; the
//	    repositories named push*.git ask for GitUser and GitPassword);
//	    serve an npm registry (-npm ADDR:PORT, npmRegistry);
//	    print "ready" once listening.
//	testpeer probe NAME=TARGET...
//	    TARGET is ADDR:PORT, unix:PATH, dns:HOSTNAME, udp:ADDR:PORT (a DNS
//	    query), tls:HOST:PORT[@ADDR:PORT] (SNI HOST, connecting to ADDR
//	    when given) or http:HOST:PORT[@ADDR:PORT] (Host HOST);
//	    hello:SNI@ADDR:PORT/MODE, a ClientHello naming SNI (any string)
//	    sent whole, late (after 450 ms), over two TLS records (records)
//	    or over two TCP segments 50 ms apart (segments), then read what
//	    comes back; tlssplit:HOST@ADDR:PORT, a whole TLS handshake whose
//	    ClientHello (its size shown) goes over two TCP segments;
//	    send:ADDR:PORT/PART,... sends each PART (base64url, or sMS to
//	    wait MS ms) and reads what comes back. Print "NAME ok|fail MS
//	    detail" for each, 3 s at most each; MS counts from the last
//	    write for hello and send.
//	testpeer dnsflood N
//	    send N DNS queries for distinct names under flood.test to the
//	    resolver, 200 at a time; print how many were answered.
//	testpeer connect-time ADDR:PORT N
//	    connect N times (reading the greeting each time); print the median
//	    in microseconds.
//	testpeer open ADDR:PORT N SECONDS
//	    open N connections (reading each greeting), print "open N", hold
//	    them for SECONDS.
//	testpeer http-serve ADDR:PORT
//	    serve a small HTTP answer ("ok") to every GET; print "ready".
//	testpeer proxy LISTEN TARGET
//	    forward every connection to TARGET (io.Copy: splice); print "ready".
//	testpeer http-latency URL N [keepalive]
//	    GET URL N times in turn, each on a new connection unless keepalive;
//	    print the median in microseconds.
//	testpeer tiocsti TEXT
//	    push TEXT into the terminal on stdin (TIOCSTI); print "injected" or
//	    the error.
//	testpeer agent-probe SOCKET GIT_HOST_KEY OTHER_HOST_KEY
//	    make hand-made requests to an ssh-agent (see agentProbe).
//	testpeer syscall keyctl|add_key|bpf|perf_event_open|userfaultfd|kexec_load
//	    make the syscall; print "allowed" or the error.
package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Records of the test world's DNS server.
var records = map[string][4]byte{
	"internet.test.": {198, 51, 100, 10},
	"rebind.test.":   {192, 168, 77, 10},
	"cdn-a.test.":    {198, 51, 100, 20},
	"cdn-b.test.":    {198, 51, 100, 20},
	"api.test.":      {198, 51, 100, 30},
	"git.test.":      {198, 51, 100, 40},
	"other.test.":    {198, 51, 100, 41},
	"slow.test.":     {198, 51, 100, 99}, // no host: a dial there hangs
	"registry.test.": {198, 51, 100, 50},
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: testpeer serve|probe ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "probe":
		probe(os.Args[2:])
	case "tiocsti":
		for _, c := range []byte(strings.Join(os.Args[2:], " ") + "\n") {
			if err := unix.IoctlSetPointerInt(0, unix.TIOCSTI, int(c)); err != nil {
				fmt.Println("tiocsti:", err)
				return
			}
		}
		fmt.Println("injected")
	case "syscall":
		trySyscall(os.Args[2])
	case "dnsflood":
		err = dnsFlood(os.Args[2:])
	case "connect-time":
		err = connectTime(os.Args[2:])
	case "open":
		err = openMany(os.Args[2:])
	case "agent-probe":
		err = agentProbe(os.Args[2:])
	case "http-serve":
		err = httpServe(os.Args[2:])
	case "http-latency":
		err = httpLatency(os.Args[2:])
	case "proxy":
		err = proxy(os.Args[2:])
	default:
		err = fmt.Errorf("unknown verb %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "testpeer:", err)
		os.Exit(1)
	}
}

func serve(args []string) error {
	var tcp, tlsAddrs, httpAddrs []string
	var dns, unix string
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-dns":
			i++
			dns = args[i]
		case "-unix":
			i++
			unix = args[i]
		case "-tls":
			i++
			tlsAddrs = append(tlsAddrs, args[i])
		case "-http":
			i++
			httpAddrs = append(httpAddrs, args[i])
		case "-hold":
			// -hold ADDR:PORT: greet each connection and keep it open
			// until the client closes it.
			i++
			l, err := net.Listen("tcp", args[i])
			if err != nil {
				return err
			}
			go acceptEach(l, func(c net.Conn) {
				fmt.Fprintln(c, "holding")
				io.Copy(io.Discard, c)
			})
		case "-git":
			// -git ADDR:PORT DIR: git's smart HTTP (git http-backend) over
			// TLS, for the repositories in DIR.
			addr, dir := args[i+1], args[i+2]
			i += 2
			cert, err := selfSigned()
			if err != nil {
				return err
			}
			l, err := tls.Listen("tcp", addr, &tls.Config{Certificates: []tls.Certificate{cert}})
			if err != nil {
				return err
			}
			backend := &cgi.Handler{Path: "/usr/lib/git-core/git-http-backend", Env: []string{"GIT_PROJECT_ROOT=" + dir, "GIT_HTTP_EXPORT_ALL=1"}}
			go http.Serve(l, gitLogin(backend))
		case "-npm":
			// -npm ADDR:PORT: an npm registry over plain HTTP with one
			// package, cb-hello (npmRegistry).
			i++
			l, err := net.Listen("tcp", args[i])
			if err != nil {
				return err
			}
			reg, err := npmRegistry()
			if err != nil {
				return err
			}
			go http.Serve(l, reg)
		case "-messages":
			i++
			l, err := net.Listen("tcp", args[i])
			if err != nil {
				return err
			}
			go http.Serve(l, http.HandlerFunc(messagesAPI))
		default:
			tcp = append(tcp, args[i])
		}
	}
	for _, a := range tlsAddrs {
		cert, err := selfSigned()
		if err != nil {
			return err
		}
		l, err := tls.Listen("tcp", a, &tls.Config{Certificates: []tls.Certificate{cert}})
		if err != nil {
			return err
		}
		go acceptEach(l, func(c net.Conn) {
			tc := c.(*tls.Conn)
			tc.SetDeadline(time.Now().Add(3 * time.Second))
			if tc.Handshake() == nil {
				fmt.Fprintf(c, "hello over TLS to SNI=%s\n", tc.ConnectionState().ServerName)
			}
		})
	}
	for _, a := range httpAddrs {
		l, err := net.Listen("tcp", a)
		if err != nil {
			return err
		}
		go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello HTTP Host=%s\n", r.Host)
		}))
	}
	for _, a := range tcp {
		l, err := net.Listen("tcp", a)
		if err != nil {
			return err
		}
		go accept(l, "hello from "+a)
	}
	if unix != "" {
		os.Remove(unix)
		l, err := net.Listen("unix", unix)
		if err != nil {
			return err
		}
		os.Chmod(unix, 0o666)
		go accept(l, "hello from unix")
	}
	if dns != "" {
		pc, err := net.ListenPacket("udp", dns)
		if err != nil {
			return err
		}
		go serveDNS(pc)
	}
	fmt.Println("ready")
	select {}
}

// acceptEach serves each connection of l with f, then closes it.
func acceptEach(l net.Listener, f func(net.Conn)) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() { defer c.Close(); f(c) }()
	}
}

// selfSigned is a throwaway certificate (clients skip verification).
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "testworld"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), DNSNames: []string{"cdn-a.test", "cdn-b.test", "git.test"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func accept(l net.Listener, greeting string) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		fmt.Fprintln(c, greeting)
		c.Close()
	}
}

// serveDNS answers A queries for the records, NXDOMAIN for anything else.
func serveDNS(pc net.PacketConn) {
	buf := make([]byte, 512)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if n < 12 {
			continue
		}
		q := buf[12:n]
		name, qlen := readName(q)
		if qlen < 0 || len(q) < qlen+4 {
			continue
		}
		question := q[:qlen+4]
		fmt.Println("dns-query", strings.ToLower(name))
		qtype := binary.BigEndian.Uint16(question[qlen:])
		resp := append([]byte{}, buf[:2]...) // id
		flags := uint16(0x8180)              // response, RD, RA
		ip, found := records[strings.ToLower(name)]
		answers := uint16(0)
		if !found {
			flags |= 3 // NXDOMAIN
		} else if qtype == 1 {
			answers = 1
		}
		resp = binary.BigEndian.AppendUint16(resp, flags)
		resp = binary.BigEndian.AppendUint16(resp, 1)
		resp = binary.BigEndian.AppendUint16(resp, answers)
		resp = append(resp, 0, 0, 0, 0)
		resp = append(resp, question...)
		if answers == 1 {
			resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4)
			resp = append(resp, ip[:]...)
		}
		pc.WriteTo(resp, addr)
	}
}

func readName(b []byte) (string, int) {
	var labels []string
	i := 0
	for i < len(b) {
		l := int(b[i])
		if l == 0 {
			return strings.Join(labels, ".") + ".", i + 1
		}
		if l > 63 || i+1+l > len(b) {
			return "", -1
		}
		labels = append(labels, string(b[i+1:i+1+l]))
		i += 1 + l
	}
	return "", -1
}

// trySyscall makes a harmless call of a syscall the sandbox refuses.
func trySyscall(name string) {
	nr := map[string]uintptr{
		"keyctl": unix.SYS_KEYCTL, "add_key": unix.SYS_ADD_KEY, "request_key": unix.SYS_REQUEST_KEY,
		"bpf": unix.SYS_BPF, "perf_event_open": unix.SYS_PERF_EVENT_OPEN, "userfaultfd": unix.SYS_USERFAULTFD,
		"kexec_load": unix.SYS_KEXEC_LOAD,
	}[name]
	if nr == 0 {
		fmt.Println("unknown syscall", name)
		return
	}
	// Arguments that make each call a no-op or an EINVAL when allowed.
	// userfaultfd with UFFD_USER_MODE_ONLY, which an unprivileged user
	// may make (since Linux 5.11) when vm.unprivileged_userfaultfd is 0:
	// with no flags, the kernel itself refuses such a user.
	var a1 uintptr
	if name == "userfaultfd" {
		a1 = 1 // UFFD_USER_MODE_ONLY
	}
	_, _, errno := unix.Syscall6(nr, a1, 0, 0, 0, 0, 0)
	switch errno {
	case unix.EPERM, unix.ENOSYS, unix.EACCES:
		fmt.Println("refused:", errno)
	default:
		fmt.Println("allowed:", errno)
	}
}

// lastWrite, when a probe sets it, is where its time counts from.
var lastWrite time.Time

func probe(args []string) {
	for _, a := range args {
		name, target, _ := strings.Cut(a, "=")
		start := time.Now()
		lastWrite = time.Time{}
		detail, err := try(target)
		if !lastWrite.IsZero() {
			start = lastWrite
		}
		ms := time.Since(start).Milliseconds()
		if err != nil {
			fmt.Printf("%s fail %d %v\n", name, ms, err)
		} else {
			fmt.Printf("%s ok %d %s\n", name, ms, detail)
		}
	}
}

func try(target string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if host, ok := strings.CutPrefix(target, "dns:"); ok {
		addrs, err := net.DefaultResolver.LookupHost(ctx, host)
		if err != nil {
			return "", err
		}
		return strings.Join(addrs, ","), nil
	}
	if rest, ok := strings.CutPrefix(target, "hello:"); ok {
		sni, rest, _ := strings.Cut(rest, "@")
		addr, mode, _ := strings.Cut(rest, "/")
		return sendHello(ctx, sni, addr, mode)
	}
	if rest, ok := strings.CutPrefix(target, "tlssplit:"); ok {
		host, addr, _ := strings.Cut(rest, "@")
		return tlsSplit(ctx, host, addr)
	}
	if rest, ok := strings.CutPrefix(target, "send:"); ok {
		addr, parts, _ := strings.Cut(rest, "/")
		return sendParts(ctx, addr, strings.Split(parts, ","))
	}
	if rest, ok := strings.CutPrefix(target, "tls:"); ok {
		hostport, at, _ := strings.Cut(rest, "@")
		host, _, _ := net.SplitHostPort(hostport)
		if at == "" {
			at = hostport
		}
		c, err := (&tls.Dialer{Config: &tls.Config{ServerName: host, InsecureSkipVerify: true}}).DialContext(ctx, "tcp", at)
		if err != nil {
			return "", err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		return strings.TrimSpace(line), err
	}
	if rest, ok := strings.CutPrefix(target, "http:"); ok {
		hostport, at, _ := strings.Cut(rest, "@")
		if at == "" {
			at = hostport
		}
		tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, at)
		}}
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+hostport+"/", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		return strings.TrimSpace(line), err
	}
	if addr, ok := strings.CutPrefix(target, "udp:"); ok {
		c, err := (&net.Dialer{}).DialContext(ctx, "udp", addr)
		if err != nil {
			return "", err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		// A query for internet.test.
		if _, err := c.Write([]byte("\x00\x07\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x08internet\x04test\x00\x00\x01\x00\x01")); err != nil {
			return "", err
		}
		b := make([]byte, 512)
		n, err := c.Read(b)
		return fmt.Sprintf("%d bytes", n), err
	}
	network := "tcp"
	if path, ok := strings.CutPrefix(target, "unix:"); ok {
		network, target = "unix", path
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, target)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if network == "unix" && errors.Is(err, os.ErrDeadlineExceeded) {
		return "connected, no greeting", nil // a daemon that waits to be asked (nscd)
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return "", err
	}
	return strings.TrimSpace(line), nil
}

// messagesAPI plays Anthropic's Messages API for one scripted session:
// asked anything, it has the model call the Bash tool to write
// from-claude.txt; given that tool's result, it answers "ALL-DONE-7".
// Streamed (server-sent events) when asked to stream.
func messagesAPI(w http.ResponseWriter, r *http.Request) {
	if r.Method != "POST" || !strings.HasPrefix(r.URL.Path, "/v1/messages") || strings.Contains(r.URL.Path, "count_tokens") {
		http.NotFound(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	fmt.Println("messages-api request", len(body), "bytes")
	done := strings.Contains(string(body), "tool_result")
	var block, delta map[string]any
	stop := "tool_use"
	if done {
		block = map[string]any{"type": "text", "text": ""}
		delta = map[string]any{"type": "text_delta", "text": "ALL-DONE-7"}
		stop = "end_turn"
	} else {
		block = map[string]any{"type": "tool_use", "id": "toolu_01", "name": "Bash", "input": map[string]any{}}
		delta = map[string]any{"type": "input_json_delta", "partial_json": `{"command":"echo made-by-claude > from-claude.txt","description":"write the file"}`}
	}
	usage := map[string]any{"input_tokens": 10, "output_tokens": 5}
	if !strings.Contains(string(body), `"stream":true`) {
		content := block
		if done {
			content = map[string]any{"type": "text", "text": "ALL-DONE-7"}
		} else {
			content = map[string]any{"type": "tool_use", "id": "toolu_01", "name": "Bash",
				"input": map[string]any{"command": "echo made-by-claude > from-claude.txt", "description": "write the file"}}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-test",
			"content": []any{content}, "stop_reason": stop, "stop_sequence": nil, "usage": usage})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	f, _ := w.(http.Flusher)
	event := func(name string, data map[string]any) {
		b, _ := json.Marshal(data)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b)
		if f != nil {
			f.Flush()
		}
	}
	event("message_start", map[string]any{"type": "message_start", "message": map[string]any{"id": "msg_01", "type": "message",
		"role": "assistant", "model": "claude-test", "content": []any{}, "stop_reason": nil, "stop_sequence": nil, "usage": usage}})
	event("content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": block})
	event("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": delta})
	event("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
	event("message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": stop, "stop_sequence": nil},
		"usage": map[string]any{"output_tokens": 5}})
	event("message_stop", map[string]any{"type": "message_stop"})
}

// connectTime measures a connection's set-up: connect, read the greeting.
func connectTime(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: testpeer connect-time ADDR:PORT N")
	}
	var n int
	if _, err := fmt.Sscan(args[1], &n); err != nil || n < 1 {
		return fmt.Errorf("bad count %q", args[1])
	}
	times := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		c, err := net.DialTimeout("tcp", args[0], 3*time.Second)
		if err != nil {
			return err
		}
		if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
			c.Close()
			return err
		}
		times = append(times, time.Since(start))
		c.Close()
	}
	slices.Sort(times)
	fmt.Println(times[n/2].Microseconds())
	return nil
}

// openMany holds N connections open for a while (the relay's memory with
// many connections is measured meanwhile).
func openMany(args []string) error {
	var n, secs int
	if len(args) != 3 {
		return errors.New("usage: testpeer open ADDR:PORT N SECONDS")
	}
	fmt.Sscan(args[1], &n)
	fmt.Sscan(args[2], &secs)
	var conns []net.Conn
	for range n {
		c, err := net.DialTimeout("tcp", args[0], 3*time.Second)
		if err != nil {
			return err
		}
		if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
			return err
		}
		conns = append(conns, c)
	}
	fmt.Println("open", len(conns))
	time.Sleep(time.Duration(secs) * time.Second)
	for _, c := range conns {
		c.Close()
	}
	return nil
}

// clientHello is the ClientHello crypto/tls sends for sni, as one record.
// crypto/tls leaves out an SNI that holds an address, so it is asked for a
// stand-in name of the same length, which is then replaced.
func clientHello(sni string) ([]byte, error) {
	stand := strings.Repeat("s", max(len(sni)-5, 1)) + ".test"
	a, b := net.Pipe()
	defer a.Close()
	go func() {
		c := tls.Client(a, &tls.Config{ServerName: stand, InsecureSkipVerify: true})
		c.SetDeadline(time.Now().Add(time.Second))
		c.Handshake()
	}()
	buf := make([]byte, 16<<10)
	b.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := b.Read(buf)
	b.Close()
	if err != nil {
		return nil, err
	}
	if len(sni) < 6 {
		return nil, fmt.Errorf("an SNI of %d bytes is too short for the stand-in", len(sni))
	}
	return bytes.Replace(buf[:n], []byte(stand), []byte(sni), 1), nil
}

// sendHello sends a ClientHello for sni to addr as mode says, and reads
// what comes back (the relay lets it through when the server answers).
func sendHello(ctx context.Context, sni, addr, mode string) (string, error) {
	hello, err := clientHello(sni)
	if err != nil {
		return "", err
	}
	var steps []any
	switch mode {
	case "whole":
		steps = []any{hello}
	case "late":
		steps = []any{450 * time.Millisecond, hello}
	case "records":
		body := hello[5:]
		rec := func(b []byte) []byte {
			return append([]byte{22, hello[1], hello[2], byte(len(b) >> 8), byte(len(b))}, b...)
		}
		steps = []any{append(rec(body[:100]), rec(body[100:])...)}
	case "segments":
		steps = []any{hello[:100], 50 * time.Millisecond, hello[100:]}
	default:
		return "", fmt.Errorf("unknown mode %q", mode)
	}
	return exchange(ctx, addr, steps)
}

// sendParts sends each part (base64url, or sMS: wait MS ms), then reads
// what comes back.
func sendParts(ctx context.Context, addr string, parts []string) (string, error) {
	var steps []any
	for _, p := range parts {
		if ms, ok := strings.CutPrefix(p, "s"); ok {
			var n int
			fmt.Sscan(ms, &n)
			steps = append(steps, time.Duration(n)*time.Millisecond)
			continue
		}
		b, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil {
			return "", err
		}
		steps = append(steps, b)
	}
	return exchange(ctx, addr, steps)
}

// exchange connects to addr and takes each step, a write ([]byte) or a
// wait (time.Duration), then reads what comes back.
func exchange(ctx context.Context, addr string, steps []any) (string, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.(*net.TCPConn).SetNoDelay(true)
	for _, s := range steps {
		switch s := s.(type) {
		case time.Duration:
			time.Sleep(s)
		case []byte:
			if _, err := c.Write(s); err != nil {
				return "", err
			}
			lastWrite = time.Now()
		}
	}
	return readBack(c)
}

// readBack reads what the other side sends, for 1.5 s at most: the bytes
// (quoted), in the error too when the connection ended otherwise than
// still open or closed cleanly after some bytes.
func readBack(c net.Conn) (string, error) {
	c.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
	got, err := io.ReadAll(c)
	if errors.Is(err, os.ErrDeadlineExceeded) && len(got) > 0 {
		err = nil
	}
	if err == nil && len(got) == 0 {
		err = errors.New("closed with nothing sent back")
	}
	back := fmt.Sprintf("%d bytes back: %q", len(got), got[:min(len(got), 1000)])
	if err != nil {
		return "", fmt.Errorf("%w, after %s", err, back)
	}
	return back, nil
}

// splitConn sends its first write over two TCP segments, 50 ms apart,
// and notes its size.
type splitConn struct {
	net.Conn
	first int
}

func (c *splitConn) Write(b []byte) (int, error) {
	if c.first != 0 || len(b) < 200 {
		return c.Conn.Write(b)
	}
	c.first = len(b)
	n, err := c.Conn.Write(b[:100])
	if err != nil {
		return n, err
	}
	time.Sleep(50 * time.Millisecond)
	m, err := c.Conn.Write(b[100:])
	return n + m, err
}

// tlsSplit makes a TLS connection to host at addr whose ClientHello goes
// over two segments, and reads the server's line.
func tlsSplit(ctx context.Context, host, addr string) (string, error) {
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	raw.(*net.TCPConn).SetNoDelay(true)
	sc := &splitConn{Conn: raw}
	c := tls.Client(sc, &tls.Config{ServerName: host, InsecureSkipVerify: true})
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return fmt.Sprintf("%s (a ClientHello of %d bytes)", strings.TrimSpace(line), sc.first), err
}

// dnsFlood sends N queries for distinct names under flood.test to the
// resolver of /etc/resolv.conf, 200 at a time, reading the answers of
// each batch (200 ms at most) before the next.
func dnsFlood(args []string) error {
	var n int
	if len(args) != 1 {
		return errors.New("usage: testpeer dnsflood N")
	}
	fmt.Sscan(args[0], &n)
	conf, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return err
	}
	server := ""
	for _, l := range strings.Split(string(conf), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "nameserver" && server == "" {
			server = f[1]
		}
	}
	c, err := net.Dial("udp", net.JoinHostPort(server, "53"))
	if err != nil {
		return err
	}
	defer c.Close()
	answered := 0
	buf := make([]byte, 512)
	for sent := 0; sent < n; {
		batch := min(200, n-sent)
		for i := range batch {
			name := fmt.Sprintf("f%d.flood", sent+i)
			q := []byte{byte(sent + i), byte((sent + i) >> 8), 1, 0, 0, 1, 0, 0, 0, 0, 0, 0}
			for _, l := range strings.Split(name, ".") {
				q = append(append(q, byte(len(l))), l...)
			}
			q = append(q, 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1)
			if _, err := c.Write(q); err != nil {
				return err
			}
		}
		sent += batch
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		for range batch {
			if _, err := c.Read(buf); err != nil {
				break
			}
			answered++
		}
	}
	fmt.Println("flood sent", n, "answered", answered)
	return nil
}

// npmRegistry is an npm registry, over plain HTTP at registry.test, that
// holds one package: cb-hello 1.0.0, whose module is the string "hello
// from the world registry". It prints "npm-request PATH" for each request.
func npmRegistry() (http.Handler, error) {
	var tgz bytes.Buffer
	zw := gzip.NewWriter(&tgz)
	tw := tar.NewWriter(zw)
	for name, body := range map[string]string{
		"package/package.json": `{"name":"cb-hello","version":"1.0.0","main":"index.js"}`,
		"package/index.js":     `module.exports = "hello from the world registry";`,
	} {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(1e9, 0)}); err != nil {
			return nil, err
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	sum := sha512.Sum512(tgz.Bytes())
	meta, err := json.Marshal(map[string]any{
		"name": "cb-hello", "dist-tags": map[string]string{"latest": "1.0.0"},
		"versions": map[string]any{"1.0.0": map[string]any{"name": "cb-hello", "version": "1.0.0", "main": "index.js",
			"dist": map[string]string{"tarball": "http://registry.test/cb-hello/-/cb-hello-1.0.0.tgz",
				"integrity": "sha512-" + base64.StdEncoding.EncodeToString(sum[:])}}},
	})
	if err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("npm-request", r.URL.Path)
		switch r.URL.Path {
		case "/cb-hello":
			w.Header().Set("Content-Type", "application/json")
			w.Write(meta)
		case "/cb-hello/-/cb-hello-1.0.0.tgz":
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(tgz.Bytes())
		default:
			http.NotFound(w, r)
		}
	}), nil
}

// The login the git server asks for on its push*.git repositories.
const (
	GitUser     = "pusher"
	GitPassword = "push-secret-7f3a"
)

// gitLogin asks for GitUser's login (HTTP Basic) on the repositories
// named push*.git, and serves the rest as they are.
func gitLogin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/push") {
			if u, p, ok := r.BasicAuth(); !ok || u != GitUser || p != GitPassword {
				w.Header().Set("WWW-Authenticate", `Basic realm="git.test"`)
				http.Error(w, "login needed", http.StatusUnauthorized)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
