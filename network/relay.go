package network

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
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
// 127.0.0.53 in the sandbox, which the launcher forwards to the host's
// resolvers. No tap device, no /dev/net/tun, no slirp4netns. UDP other than
// DNS is rejected at once.

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
	upstreams []string // the host's resolvers, host:53
	mu        sync.Mutex
	conns     map[net.Conn]struct{} // open relayed connections
	closed    bool
	wg        sync.WaitGroup
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
	opts.Relay = &netconf.RelayConf{Port: d.sockets.port(), Addr: RelayAddr}
	return opts, nil, nil
}

// Up serves the sockets until Down.
func (d *relayDriver) Up(*Attachment) error {
	d.conns = map[net.Conn]struct{}{}
	d.serve(func() { d.acceptLoop(d.sockets.TCP, d.relayTCP) })
	d.serve(func() { d.acceptLoop(d.sockets.DNSTCP, d.relayDNSTCP) })
	d.serve(d.dnsLoop)
	return nil
}

func (d *relayDriver) serve(f func()) {
	d.wg.Add(1)
	go func() { defer d.wg.Done(); f() }()
}

// Down closes the sockets and every relayed connection.
func (d *relayDriver) Down(*Attachment) {
	if d.sockets == nil {
		return
	}
	d.mu.Lock()
	d.closed = true
	for c := range d.conns {
		c.Close()
	}
	d.mu.Unlock()
	d.sockets.Close()
}

// Settle waits for the relay's goroutines to end.
func (d *relayDriver) Settle() { d.wg.Wait() }

// track keeps c for Down; false when the relay is closing.
func (d *relayDriver) track(c net.Conn) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.conns[c] = struct{}{}
	return true
}

func (d *relayDriver) untrack(c net.Conn) {
	d.mu.Lock()
	delete(d.conns, c)
	d.mu.Unlock()
	c.Close()
}

func (d *relayDriver) acceptLoop(l *net.TCPListener, relay func(*net.TCPConn)) {
	for {
		c, err := l.AcceptTCP()
		if err != nil {
			return // closed by Down
		}
		if !d.track(c) {
			c.Close()
			return
		}
		d.serve(func() { defer d.untrack(c); relay(c) })
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
	if !d.pass(in, dst.String(), 30*time.Second) {
		in.SetLinger(0)
	}
}

// pass connects to addr and moves the bytes between in and it until both
// are done; false when it cannot connect.
func (d *relayDriver) pass(in *net.TCPConn, addr string, timeout time.Duration) bool {
	out, err := (&net.Dialer{Timeout: timeout}).Dial("tcp", addr)
	if err != nil {
		return false
	}
	if !d.track(out) {
		out.Close()
		return true
	}
	defer d.untrack(out)
	splice(in, out.(*net.TCPConn))
	return true
}

// allowed says whether the relay may connect to dst: what the egress rules
// let through (an --allow-net entry, or nothing the deny set names). The
// rules already rejected the rest in the sandbox; this is the second look.
func (d *relayDriver) allowed(dst netip.AddrPort) bool {
	a := dst.Addr().Unmap()
	for _, al := range d.allow {
		if al.Prefix.Contains(a) && (al.Port == 0 || al.Port == dst.Port()) {
			return true
		}
	}
	for _, p := range d.deny {
		if p.Contains(a) {
			return false
		}
	}
	return a.Is4()
}

// relayDNSTCP passes a DNS-over-TCP connection to the host's first
// resolver.
func (d *relayDriver) relayDNSTCP(in *net.TCPConn) {
	d.pass(in, d.upstreams[0], 5*time.Second)
}

// dnsLoop answers the stub's queries by asking the host's resolvers, in
// turn, from the host's network namespace.
func (d *relayDriver) dnsLoop() {
	buf := make([]byte, 65535)
	for {
		n, from, err := d.sockets.DNS.ReadFromUDPAddrPort(buf)
		if err != nil {
			return // closed by Down
		}
		query := append([]byte(nil), buf[:n]...)
		d.serve(func() {
			if answer := d.resolve(query); answer != nil {
				_, _ = d.sockets.DNS.WriteToUDPAddrPort(answer, from)
			}
		})
	}
}

// resolve sends a query to the host's resolvers until one answers.
func (d *relayDriver) resolve(query []byte) []byte {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, up := range d.upstreams {
		c, err := (&net.Dialer{}).DialContext(ctx, "udp", up)
		if err != nil {
			continue
		}
		deadline, _ := ctx.Deadline()
		_ = c.SetDeadline(deadline)
		if _, err := c.Write(query); err == nil {
			answer := make([]byte, 65535)
			if n, err := c.Read(answer); err == nil {
				c.Close()
				return answer[:n]
			}
		}
		c.Close()
	}
	return nil
}

// splice moves the bytes of a and b both ways until both sides are done,
// passing each half-close on. Between TCP connections io.Copy uses
// splice(2): the bytes never enter this process.
func splice(a, b *net.TCPConn) {
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(b, a)
		_ = b.CloseWrite()
		close(done)
	}()
	_, _ = io.Copy(a, b)
	_ = a.CloseWrite()
	<-done
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
