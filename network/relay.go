package network

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"time"
	"unsafe"

	"github.com/claudebox/claudebox/launch"
	"github.com/claudebox/claudebox/netconf"
	"golang.org/x/sys/unix"
)

// The relay: rootless egress without a user-mode TCP/IP stack. The
// sandbox's network namespace has only its loopback, with 10.0.2.100 on
// it and the default route through it; claudebox-egress rejects what the
// deny set names before NAT, and redirects every other outbound TCP
// connection to a listener the namespace holder made there (RelaySockets).
// The launcher accepts on that listener from the host's network namespace,
// reads where the connection was going (SO_ORIGINAL_DST), checks it again,
// and connects there with the kernel's own TCP; the bytes are moved by
// splice(2) (io.Copy between TCP connections). DNS goes to a stub on
// 127.0.0.53 in the sandbox, whose questions the launcher asks the host's
// resolvers in queries it builds itself (dns.go). No tap device, no
// /dev/net/tun, no slirp4netns. UDP other than DNS is rejected at once.

// RelayAddr is the sandbox's address on its loopback in the relay's shape,
// and RelayDNS its DNS stub.
const (
	RelayAddr = "10.0.2.100"
	RelayDNS  = "127.0.0.53"
)

// soOriginalDst is SO_ORIGINAL_DST (linux/netfilter_ipv4.h).
const soOriginalDst = 80

// RelaySockets are the relay's sockets, in the sandbox's network namespace.
type RelaySockets struct {
	TCP    *net.TCPListener // redirected outbound connections
	DNS    *net.UDPConn     // the DNS stub, 127.0.0.53:53
	DNSTCP *net.TCPListener // the same over TCP
}

// relaySockets wraps the holder's three sockets.
func relaySockets(fds []int) (*RelaySockets, error) {
	var rs RelaySockets
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "relay")
		var c any
		var err error
		if i == 1 {
			c, err = net.FilePacketConn(f)
		} else {
			c, err = net.FileListener(f)
		}
		f.Close()
		if err != nil {
			rs.Close()
			return nil, fmt.Errorf("the relay's sockets: %w", err)
		}
		switch i {
		case 0:
			rs.TCP = c.(*net.TCPListener)
		case 1:
			rs.DNS = c.(*net.UDPConn)
		case 2:
			rs.DNSTCP = c.(*net.TCPListener)
		}
	}
	return &rs, nil
}

// Close closes the sockets.
func (rs *RelaySockets) Close() {
	if rs.TCP != nil {
		rs.TCP.Close()
	}
	if rs.DNS != nil {
		rs.DNS.Close()
	}
	if rs.DNSTCP != nil {
		rs.DNSTCP.Close()
	}
}

// port is the listener's port, which the redirect names.
func (rs *RelaySockets) port() int { return rs.TCP.Addr().(*net.TCPAddr).Port }

// relayDriver serves the relay for one sandbox while it runs.
type relayDriver struct {
	sockets   *RelaySockets
	deny      []netip.Prefix
	allow     []launch.Allow
	upstreams []string   // the host's resolvers, host:53
	list      *allowlist // the allowlist tier's; nil for inet
	// connSet bounds the relayed connections a sandbox can make the
	// launcher hold at once; queries bounds the DNS queries in flight.
	connSet
	queries chan struct{}
	// reading holds a slot per connection being read (maxReading).
	reading chan struct{}
	// ctx ends with Down: dials, DNS exchanges and first-byte reads in
	// progress stop with it, so that exit does not wait for them.
	ctx    context.Context
	cancel context.CancelFunc
}

// Prepare: the CNI list's egress plugin gives the namespace its address
// and route and redirects TCP to the relay's listener.
func (d *relayDriver) Prepare(a *Attachment, opts netconf.Options) (netconf.Options, []string, error) {
	if d.sockets == nil {
		return opts, nil, errors.New("the relay's sockets were not made")
	}
	for _, p := range netconf.DenyList(opts.HostAddrs) {
		d.deny = append(d.deny, netip.MustParsePrefix(p))
	}
	d.allow = a.Network.Allow
	for _, r := range nameservers("/etc/resolv.conf", true) {
		d.upstreams = append(d.upstreams, net.JoinHostPort(r.String(), "53"))
	}
	if len(d.upstreams) == 0 {
		return opts, nil, errors.New("no DNS server in /etc/resolv.conf for the relay to forward to")
	}
	if a.Network.Tier == launch.TierAllowlist {
		log, err := openNetLog(a.LogPath)
		if err != nil {
			return opts, nil, err
		}
		d.list = newAllowlist(a.Network.Hosts, log)
	}
	opts.Relay = &netconf.RelayConf{Port: d.sockets.port(), Addr: RelayAddr}
	return opts, nil, nil
}

// summary says what the allowlist refused; "" for inet or nothing.
func (d *relayDriver) summary() string {
	if d.list == nil {
		return ""
	}
	return d.list.log.Summary()
}

// Limits on what one sandbox makes the relay hold at once; beyond them a
// connection is reset, a query dropped (its client asks again).
const (
	maxRelayed  = 1024
	maxInFlight = 256
	// maxReading bounds the connections whose first bytes or request head
	// are being read at once (each up to maxHead): the others wait, their
	// bytes in the kernel's buffers, not the launcher's memory.
	maxReading = 64
	// maxDNSMessage bounds a DNS query over TCP: a question and EDNS.
	maxDNSMessage = 4096
)

// Up serves the sockets until Down.
func (d *relayDriver) Up(*Attachment) error {
	d.init(maxRelayed)
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.queries = make(chan struct{}, maxInFlight)
	d.reading = make(chan struct{}, maxReading)
	d.serve(func() { d.acceptLoop(d.sockets.TCP, d.relayTCP) })
	d.serve(func() { d.acceptLoop(d.sockets.DNSTCP, d.relayDNSTCP) })
	d.serve(d.dnsLoop)
	return nil
}

// Down closes the sockets and every relayed connection.
func (d *relayDriver) Down(*Attachment) {
	if d.sockets == nil {
		return
	}
	if d.cancel != nil {
		d.cancel()
	}
	d.held.Close()
	d.sockets.Close()
}

// Settle waits for the relay's goroutines to end.
func (d *relayDriver) Settle() {
	d.wg.Wait()
	if d.list != nil {
		d.list.log.close()
	}
}

// relayTCP connects a redirected connection where it was going, if it
// may go there, and moves the bytes both ways.
func (d *relayDriver) relayTCP(in *net.TCPConn) {
	dst, err := originalDst(in)
	if err != nil || !d.allowed(dst) {
		in.SetLinger(0) // a reset, not a hang
		return
	}
	if d.list == nil {
		if _, ok := d.pass(in, dst.String(), nil, 30*time.Second); !ok {
			in.SetLinger(0)
		}
		return
	}
	_, nameless := d.list.namelessFor(dst)
	if !d.read() {
		in.SetLinger(0)
		return
	}
	f := readFirst(in, nameless)
	d.doneReading()
	ctx, cancel := context.WithTimeout(d.ctx, 5*time.Second)
	v := d.list.decide(ctx, dst, f, func(ctx context.Context, name string) ([]netip.Addr, error) { return lookupA(ctx, d.ask, name) },
		d.allowed, d.allowedNet)
	cancel()
	e := logEntry{Kind: "tcp", Name: v.name, Addr: dst.Addr().String(), Port: dst.Port(), Verdict: "allowed"}
	if v.reason != "" {
		e.Verdict, e.Reason = "refused", v.reason
		d.list.log.add(e)
		in.SetLinger(0)
		return
	}
	to := v.to.String()
	e.Addr = to
	if f.kind != httpRequest || v.byNet {
		n, ok := d.pass(in, to, f.bytes, 30*time.Second)
		if !ok {
			e.Verdict, e.Reason = "refused", "cannot connect to "+to
			in.SetLinger(0)
		}
		e.Bytes = n
		d.list.log.add(e)
		return
	}
	// Plaintext HTTP: each request is looked at (guardHTTP).
	out, ok := d.dial(to, 30*time.Second)
	if !ok {
		e.Verdict, e.Reason = "refused", "cannot connect to "+to
		d.list.log.add(e)
		in.SetLinger(0)
		return
	}
	if out == nil {
		return
	}
	defer d.held.Untrack(out)
	back := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(in, out)
		_ = in.CloseWrite()
		back <- n
	}()
	r := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(f.bytes), in), 4096)
	cw := &countingWriter{w: out}
	reason := guardHTTP(r, cw, v.name, func(reading bool) bool {
		if !reading {
			d.doneReading()
			_ = in.SetReadDeadline(time.Time{})
			return true
		}
		_ = in.SetReadDeadline(time.Now().Add(nameWait))
		return d.read()
	})
	if reason != "" {
		in.SetLinger(0)
		in.Close()
		out.Close()
	} else {
		_ = out.CloseWrite()
	}
	e.Bytes = cw.n + <-back
	d.list.log.add(e)
	if reason != "" {
		e.Verdict, e.Reason, e.Bytes = "refused", reason, 0
		d.list.log.add(e)
	}
}

// read takes a reading slot, waiting for one until Down; false when the
// relay is going down.
func (d *relayDriver) read() bool {
	select {
	case d.reading <- struct{}{}:
		return true
	case <-d.ctx.Done():
		return false
	}
}

func (d *relayDriver) doneReading() { <-d.reading }

// countingWriter counts what it passes on.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// dial connects to addr, within timeout and until Down; the connection is
// nil, with true, when the relay is closing.
func (d *relayDriver) dial(addr string, timeout time.Duration) (*net.TCPConn, bool) {
	ctx, cancel := context.WithTimeout(d.ctx, timeout)
	defer cancel()
	out, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, false
	}
	if !d.held.Track(out) {
		out.Close()
		return nil, true
	}
	return out.(*net.TCPConn), true
}

// pass connects to addr, sends it what the client sent already (first),
// and moves the bytes between in and it until both are done; it returns
// the bytes moved, and false when it cannot connect.
func (d *relayDriver) pass(in *net.TCPConn, addr string, first []byte, timeout time.Duration) (int64, bool) {
	out, ok := d.dial(addr, timeout)
	if out == nil {
		return 0, ok
	}
	defer d.held.Untrack(out)
	if _, err := out.Write(first); err != nil {
		return 0, true
	}
	return int64(len(first)) + splice(in, out), true
}

// allowed says whether the relay may connect to dst: what the egress rules
// let through (an --allow-net entry, or nothing the deny set names). The
// rules already rejected the rest in the sandbox; this is the second look.
func (d *relayDriver) allowed(dst netip.AddrPort) bool {
	if d.allowedNet(dst) {
		return true
	}
	a := dst.Addr().Unmap()
	for _, p := range d.deny {
		if p.Contains(a) {
			return false
		}
	}
	return a.Is4()
}

// allowedNet reports whether dst is an --allow-net destination.
func (d *relayDriver) allowedNet(dst netip.AddrPort) bool {
	a := dst.Addr().Unmap()
	return slices.ContainsFunc(d.allow, func(al launch.Allow) bool {
		return al.Prefix.Contains(a) && (al.Port == 0 || al.Port == dst.Port())
	})
}

// relayDNSTCP answers DNS over TCP as over UDP: length-prefixed
// messages (RFC 1035 4.2.2), each answered by stub.
func (d *relayDriver) relayDNSTCP(in *net.TCPConn) {
	r := bufio.NewReader(in)
	for {
		_ = in.SetReadDeadline(time.Now().Add(10 * time.Second))
		var n uint16
		if binary.Read(r, binary.BigEndian, &n) != nil {
			return
		}
		if n > maxDNSMessage {
			return // no query is this long: a sandbox holding the launcher's memory
		}
		query := make([]byte, n)
		if _, err := io.ReadFull(r, query); err != nil {
			return
		}
		answer := stub(d.ctx, d.list, query, true, d.ask)
		if answer == nil {
			return
		}
		if _, err := in.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(answer))), answer...)); err != nil {
			return
		}
	}
}

// dnsLoop answers the stub's queries (stub), asking the host's resolvers
// from the host's network namespace.
func (d *relayDriver) dnsLoop() {
	buf := make([]byte, 65535)
	for {
		n, from, err := d.sockets.DNS.ReadFromUDPAddrPort(buf)
		if err != nil {
			return // closed by Down
		}
		select {
		case d.queries <- struct{}{}:
		default:
			continue // too many in flight: dropped
		}
		query := append([]byte(nil), buf[:n]...)
		d.serve(func() {
			defer func() { <-d.queries }()
			if answer := stub(d.ctx, d.list, query, false, d.ask); answer != nil {
				_, _ = d.sockets.DNS.WriteToUDPAddrPort(answer, from)
			}
		})
	}
}

// splice moves the bytes of a and b both ways until both sides are done,
// passing each half-close on. Between TCP connections io.Copy uses
// splice(2): the bytes never enter this process.
func splice(a, b *net.TCPConn) int64 {
	done := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(b, a)
		_ = b.CloseWrite()
		done <- n
	}()
	n, _ := io.Copy(a, b)
	_ = a.CloseWrite()
	return n + <-done
}

// originalDst is where a redirected connection was going.
func originalDst(c *net.TCPConn) (netip.AddrPort, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, err
	}
	var sa unix.RawSockaddrInet4
	var serr error
	err = raw.Control(func(fd uintptr) {
		size := uint32(unsafe.Sizeof(sa))
		_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_IP, soOriginalDst, uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&size)), 0)
		if e != 0 {
			serr = e
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("SO_ORIGINAL_DST: %w", err)
	}
	port := uint16(sa.Port>>8) | uint16(sa.Port&0xff)<<8 // network order
	return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), port), nil
}
