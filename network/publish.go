package network

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/claudebox/claudebox/internal/registry"
	"github.com/claudebox/claudebox/launch"
	"golang.org/x/sys/unix"
)

// Publishing (--publish): the launcher listens on the host, and passes
// each connection it accepts to the published port on the sandbox's
// loopback, through a socket made in the sandbox's network namespace. A
// socket keeps the namespace it was made in, whoever connects it; but
// rootless, only a process inside the sandbox's user namespace may enter
// its network namespace (setns needs CAP_SYS_ADMIN in the caller's own user
// namespace too). So a helper, this binary re-executed (registry.Publish),
// joins the sandbox's user namespace before Go starts (the CNI helper's
// way), enters the network namespace on one locked thread, and makes
// sockets there on request, passing each back over a unix socket
// (SCM_RIGHTS). The launcher connects it to 127.0.0.1:PORT, else
// [::1]:PORT, so that a server bound to 127.0.0.1, 0.0.0.0, :: or ::1 is
// reached, and moves the bytes with splice(2) as the relay does. The
// egress rules never see these connections leave: they stay on the
// sandbox's loopback, which no tier redirects.

// ErrPublish means a --publish could not be set up; the launch is refused.
var ErrPublish = errors.New("cannot publish")

// maxPublished bounds the connections a publish holds at once; beyond it
// a connection is reset.
const maxPublished = 4096

// Publisher serves a launch's published ports: host listeners bound
// before the sandbox starts (Listen), served once it runs (Serve), closed
// when it ends (Close).
type Publisher struct {
	listeners []publishListener
	notify    io.Writer // nil: quiet
	helper    *publishHelper
	stop      chan struct{} // closed by Close
	connSet                 // the connections passed in
	said      sync.Mutex
	announced map[int]bool // publish index -> said once
	prefer6   sync.Map     // sandbox port -> true when ::1 reached it last
}

type publishListener struct {
	pub launch.Publish
	idx int // in the publish list
	l   *net.TCPListener
}

// Listen binds the host side of every publish: the host's loopback (both
// 127.0.0.1 and ::1) unless an address is named. A port in use, a
// privileged port, an address the host does not have is an error naming
// the --publish spec, and nothing stays bound. notify gets the line that
// says a published port is served (nil: nothing is said).
func Listen(pubs []launch.Publish, notify io.Writer) (_ *Publisher, err error) {
	p := &Publisher{notify: notify, announced: map[int]bool{}, stop: make(chan struct{})}
	p.init(maxPublished)
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	for i, pub := range pubs {
		for _, a := range pub.Addrs() {
			l, err := listenOne(pub, a)
			if err != nil {
				return nil, err
			}
			if l != nil {
				p.listeners = append(p.listeners, publishListener{pub: pub, idx: i, l: l})
			}
		}
	}
	return p, nil
}

// listenOne listens on a:HostPort (SO_REUSEADDR, as Go does: a launch
// right after another can publish the same port). The ::1 of the loopback
// default is skipped (nil) on a host without IPv6: no browser there
// tries it.
func listenOne(pub launch.Publish, a netip.Addr) (*net.TCPListener, error) {
	network := "tcp4"
	if a.Is6() {
		network = "tcp6" // IPV6_V6ONLY: [::] leaves 0.0.0.0 alone
	}
	addr := netip.AddrPortFrom(a, pub.HostPort)
	l, err := net.Listen(network, addr.String())
	if err == nil {
		return l.(*net.TCPListener), nil
	}
	flag := "--publish " + pub.String()
	switch {
	case !pub.Addr.IsValid() && a.Is6() && (errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.EAFNOSUPPORT)):
		return nil, nil
	case errors.Is(err, unix.EADDRINUSE):
		return nil, &launch.HintError{Err: fmt.Errorf("%w: %s: host port %d is in use on %s", ErrPublish, flag, pub.HostPort, a),
			Hint: fmt.Sprintf("stop what listens there (ss -ltnp 'sport = %d'), or publish another host port: --publish %d:%d", pub.HostPort, freeHint(pub.HostPort), pub.SandboxPort)}
	case errors.Is(err, unix.EACCES):
		start := unprivilegedPortStart()
		return nil, &launch.HintError{Err: fmt.Errorf("%w: %s: host port %d is privileged: only root may listen below %d (net.ipv4.ip_unprivileged_port_start)", ErrPublish, flag, pub.HostPort, start),
			Hint: fmt.Sprintf("publish a host port from %d up to the same sandbox port: --publish %d:%d", start, max(8080, start), pub.SandboxPort)}
	case errors.Is(err, unix.EADDRNOTAVAIL):
		return nil, &launch.HintError{Err: fmt.Errorf("%w: %s: %s is not an address of this host", ErrPublish, flag, a),
			Hint: "name one of the host's addresses (ip -brief address), or leave the address out for the loopback"}
	}
	return nil, fmt.Errorf("%w: %s: %w", ErrPublish, flag, err)
}

// freeHint is a port to suggest instead of p.
func freeHint(p uint16) int {
	if p == 65535 {
		return 8080
	}
	return int(p) + 1
}

// unprivilegedPortStart is the first port a user may listen on.
func unprivilegedPortStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
	if err != nil {
		return 1024
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 1024
	}
	return n
}

// Serve starts passing connections to the sandbox whose namespaces pid is
// in (its init), and watching for its servers to listen, to say so once.
// It returns at once: the set-up waits for the init to be the sandbox's
// pid 1 (until it has exec'd, the kernel keeps its namespaces from the
// launcher) and starts the helper, while the command runs; connections
// made meanwhile wait in the listeners' queues. If the set-up fails,
// failed is called with the error (the launch must not go on without
// what it published).
func (p *Publisher) Serve(launcher string, pid int, failed func(error)) {
	if len(p.listeners) == 0 {
		return
	}
	p.serve(func() {
		if err := p.start(launcher, pid); err != nil {
			failed(fmt.Errorf("%w: %w", ErrPublish, err))
		}
	})
}

// start starts the helper in pid's namespaces, then the accept loops and
// the watch.
func (p *Publisher) start(launcher string, pid int) error {
	userns, netns, err := p.openNamespaces(pid)
	if err != nil {
		return err
	}
	defer userns.Close()
	defer netns.Close()
	// Not once Close has begun: it would not wait for what starts here.
	p.held.WhileOpen(func() {
		if p.helper, err = startPublishHelper(launcher, userns, netns); err != nil {
			return
		}
		for _, pl := range p.listeners {
			p.serve(func() { p.acceptLoop(pl.l, func(c *net.TCPConn) { p.pass(c, pl) }) })
		}
		if p.notify != nil {
			if dir, err := os.Open(fmt.Sprintf("/proc/%d/net", pid)); err == nil {
				p.serve(func() { defer dir.Close(); p.watch(dir) })
			}
		}
	})
	return err
}

// openNamespaces opens pid's user and network namespaces. While pid is
// still runc's init, not yet the sandbox's pid 1, the kernel refuses
// (EACCES: it is not dumpable, and its memory belongs to the host's user
// namespace); that lasts until its exec, a few milliseconds.
func (p *Publisher) openNamespaces(pid int) (userns, netns *os.File, err error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		userns, err = os.Open(fmt.Sprintf("/proc/%d/ns/user", pid))
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EACCES) || time.Now().After(deadline) {
			return nil, nil, err
		}
		select {
		case <-p.stop:
			return nil, nil, errors.New("closed")
		case <-time.After(2 * time.Millisecond):
		}
	}
	if netns, err = os.Open(fmt.Sprintf("/proc/%d/ns/net", pid)); err != nil {
		userns.Close()
		return nil, nil, err
	}
	return userns, netns, nil
}

// Close stops listening and ends every passed connection and the helper;
// it returns once all of it is gone. A nil Publisher has nothing.
func (p *Publisher) Close() {
	if p == nil || !p.held.Close() {
		return
	}
	close(p.stop)
	for _, pl := range p.listeners {
		pl.l.Close()
	}
	p.wg.Wait()
	p.helper.close()
}

// pass connects in to the published port inside and moves the bytes
// both ways until both sides are done. Nothing listening inside: a reset.
func (p *Publisher) pass(in *net.TCPConn, pl publishListener) {
	out, err := p.dialInside(pl.pub.SandboxPort)
	if err != nil {
		in.SetLinger(0)
		return
	}
	if !p.held.Track(out) {
		out.Close()
		return
	}
	defer p.held.Untrack(out)
	p.announce(pl.idx, pl.pub)
	splice(in, out)
}

// dialInside connects to port on the sandbox's loopback: 127.0.0.1, which
// servers on 0.0.0.0 and :: accept too, else ::1. The family that reached
// the port last is tried first: a server on ::1 alone costs one refused
// attempt, not one per connection.
func (p *Publisher) dialInside(port uint16) (*net.TCPConn, error) {
	first, second := unix.AF_INET, unix.AF_INET6
	if v6, _ := p.prefer6.Load(port); v6 == true {
		first, second = second, first
	}
	c, err := p.dialFamily(first, port)
	if err == nil {
		return c, nil
	}
	if c2, err2 := p.dialFamily(second, port); err2 == nil {
		p.prefer6.Store(port, second == unix.AF_INET6)
		return c2, nil
	}
	return nil, err
}

// dialFamily connects a socket the helper made in the sandbox's network
// namespace. The connect blocks (bounded by SO_SNDTIMEO): on loopback it
// is done within the call, which spares a wake-up of the poller per
// connection.
func (p *Publisher) dialFamily(family int, port uint16) (*net.TCPConn, error) {
	fd, err := p.helper.socket(family)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "publish")
	defer f.Close()
	var sa unix.Sockaddr = &unix.SockaddrInet4{Port: int(port), Addr: [4]byte{127, 0, 0, 1}}
	if family == unix.AF_INET6 {
		sa = &unix.SockaddrInet6{Port: int(port), Addr: netip.IPv6Loopback().As16()}
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		return nil, err
	}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &unix.Timeval{Sec: 10}); err != nil {
		return nil, err
	}
	if err := unix.Connect(fd, sa); err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	c, err := net.FileConn(f) // a non-blocking duplicate, on Go's poller
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// announce says, once per publish, that its server is reached.
func (p *Publisher) announce(idx int, pub launch.Publish) {
	if p.notify == nil {
		return
	}
	p.said.Lock()
	said := p.announced[idx]
	p.announced[idx] = true
	p.said.Unlock()
	if !said {
		fmt.Fprintf(p.notify, "claudebox: %s -> sandbox :%d\n", pub.URL(), pub.SandboxPort)
	}
}

// watchEvery is how often the watch reads the sandbox's socket tables
// until every published port has been seen listening: two small reads of
// kernel text, ~4 times a second, for a line the user waits for.
const watchEvery = 250 * time.Millisecond

// watch reads the sandbox's TCP socket tables (dir is its /proc/PID/net)
// until each published port listens, and announces each once. The tables
// are the kernel's, not the sandbox's writing; the descriptor pins the
// process, so a reused pid is never read.
func (p *Publisher) watch(dir *os.File) {
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	for {
		listening := map[uint16]bool{}
		for _, name := range []string{"tcp", "tcp6"} {
			fd, err := unix.Openat(int(dir.Fd()), name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				continue // no IPv6: no tcp6
			}
			f := os.NewFile(uintptr(fd), name)
			for port := range listeningPorts(f) {
				listening[port] = true
			}
			f.Close()
		}
		done := true
		for _, pl := range p.listeners {
			if listening[pl.pub.SandboxPort] {
				p.announce(pl.idx, pl.pub)
			} else {
				done = false
			}
		}
		if done {
			return
		}
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
	}
}

// tcpListen is the state column's LISTEN in /proc/net/tcp.
const tcpListen = "0A"

// reachedAddrs are the local addresses, as /proc/net/tcp{,6} writes them,
// of a listener that dialInside reaches: 127.0.0.1, 0.0.0.0, ::1, ::.
var reachedAddrs = map[string]bool{
	"0100007F": true, "00000000": true,
	"00000000000000000000000001000000": true, "00000000000000000000000000000000": true,
}

// listeningPorts are the local ports of the LISTEN sockets in a
// /proc/net/tcp{,6} table that the publish reaches (not, say, the relay's
// DNS stub on 127.0.0.53).
func listeningPorts(r io.Reader) map[uint16]bool {
	out := map[uint16]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || f[3] != tcpListen {
			continue
		}
		addr, port, ok := strings.Cut(f[1], ":")
		if n, err := strconv.ParseUint(port, 16, 16); ok && err == nil && reachedAddrs[addr] {
			out[uint16(n)] = true
		}
	}
	return out
}

// publishHelper is the process that makes sockets in the sandbox's
// network namespace (PublishHelperMain). A socket of each family is asked
// for ahead of need, so that a connection does not wait for the helper.
type publishHelper struct {
	cmd   *exec.Cmd
	mu    sync.Mutex // one request at a time
	conn  *net.UnixConn
	ready map[int]chan int // family -> a socket made ahead; closed when the helper fails
	done  chan struct{}
	wg    sync.WaitGroup
}

// startPublishHelper starts the helper in the namespaces given.
func startPublishHelper(launcher string, userns, netns *os.File) (*publishHelper, error) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	child, parent := os.NewFile(uintptr(pair[0]), "publish"), os.NewFile(uintptr(pair[1]), "publish")
	defer child.Close()
	defer parent.Close()
	cmd := exec.Command(launcher, registry.Publish)
	cmd.ExtraFiles = []*os.File{userns, netns, child} // fds 3, 4 and 5
	cmd.Env = []string{registry.EnvUserns + "=/proc/self/fd/3"}
	cmd.Stderr = os.Stderr
	// It ends when its end of the socket closes: at Close, or when the
	// launcher dies.
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("the publish helper: %w", err)
	}
	fc, err := net.FileConn(parent)
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, err
	}
	h := &publishHelper{cmd: cmd, conn: fc.(*net.UnixConn), done: make(chan struct{}),
		ready: map[int]chan int{unix.AF_INET: make(chan int), unix.AF_INET6: make(chan int)}}
	// The first socket, made now, says the helper works.
	fd, err := h.request(unix.AF_INET)
	if err != nil {
		h.close()
		return nil, err
	}
	unix.Close(fd)
	for family := range h.ready {
		h.wg.Add(1)
		go func() { defer h.wg.Done(); h.makeAhead(family) }()
	}
	return h, nil
}

// makeAhead keeps a socket of family ready until the helper closes.
func (h *publishHelper) makeAhead(family int) {
	defer close(h.ready[family])
	for {
		fd, err := h.request(family)
		if err != nil {
			return
		}
		select {
		case h.ready[family] <- fd:
		case <-h.done:
			unix.Close(fd)
			return
		}
	}
}

// socket is a TCP socket of family (AF_INET, AF_INET6) in the sandbox's
// network namespace; the caller closes it.
func (h *publishHelper) socket(family int) (int, error) {
	fd, ok := <-h.ready[family]
	if !ok {
		return -1, errors.New("the publish helper ended")
	}
	return fd, nil
}

// request asks the helper for a socket of family.
func (h *publishHelper) request(family int) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	req := byte('4')
	if family == unix.AF_INET6 {
		req = '6'
	}
	_ = h.conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := h.conn.Write([]byte{req}); err != nil {
		return -1, fmt.Errorf("the publish helper: %w", err)
	}
	buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := h.conn.ReadMsgUnix(buf, oob)
	if err != nil || n != 1 {
		return -1, fmt.Errorf("the publish helper: no answer: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if buf[0] != 'k' || err != nil || len(msgs) != 1 {
		return -1, errors.New("the publish helper could not make a socket")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return -1, errors.New("the publish helper sent no socket")
	}
	return fds[0], nil
}

// close ends the helper and waits for it.
func (h *publishHelper) close() {
	if h == nil {
		return
	}
	close(h.done)  // a socket made ahead is closed
	h.conn.Close() // a request under way fails
	h.wg.Wait()
	_ = h.cmd.Wait()
}

// PublishHelperMain is `claudebox _publish`: already in the sandbox's
// user namespace (joined before Go started, registry.EnvUserns), it
// enters the network namespace on fd 4 with this thread, for good, and
// answers each request on fd 5 ('4' or '6') with a new TCP socket of
// that family made there ('k' and the descriptor), or 'e'.
func PublishHelperMain() int {
	runtime.LockOSThread() // never unlocked: the thread dies with the process
	if err := unix.Setns(4, unix.CLONE_NEWNET); err != nil {
		fmt.Fprintf(os.Stderr, "claudebox: the publish helper: entering the sandbox's network namespace: %v\n", err)
		return registry.ExitFailure
	}
	unix.Close(4)
	unix.Close(3)
	const conn = 5
	buf := make([]byte, 16)
	for {
		n, err := unix.Read(conn, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n == 0 {
			return 0 // the launcher closed its end
		}
		family := unix.AF_INET
		if buf[0] == '6' {
			family = unix.AF_INET6
		}
		fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			if _, err := unix.Write(conn, []byte{'e'}); err != nil {
				return 0
			}
			continue
		}
		err = unix.Sendmsg(conn, []byte{'k'}, unix.UnixRights(fd), nil, 0)
		unix.Close(fd)
		if err != nil {
			return 0
		}
	}
}
