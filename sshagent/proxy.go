// Package sshagent serves a sandbox an ssh-agent that signs only logins
// to the hosts the user named. It listens on a unix socket of its own and
// passes on to the user's agent (the host's SSH_AUTH_SOCK) only:
//   - the list of identities (all, or those named);
//   - a login's signature, on a connection that ssh bound by
//     session-bind@openssh.com (OpenSSH 8.9) to a server that proved, by
//     signing the session identifier, that it holds a host key the user's
//     known_hosts lists for a named host; the data signed must be a
//     publickey login request that starts with that session identifier,
//     so the signature is good for that one session only;
//   - SSHSIG signatures (ssh-keygen -Y sign, git's gpg.format=ssh) in the
//     namespaces named.
//
// Everything else (adding or removing keys, locking, other extensions, a
// login with no binding or bound elsewhere) is refused without reaching
// the user's agent. A binding holds for its connection only. Each
// decision is logged (Decision).
package sshagent

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/claudebox/claudebox/internal/connset"
	"github.com/claudebox/claudebox/internal/sockserve"
)

// Limits on what one sandbox makes the proxy hold: connections at once,
// and how long the user's agent may take to answer (a key that asks for
// confirmation or a touch takes a while).
const (
	maxConns        = 32
	upstreamTimeout = 2 * time.Minute
)

// Proxy is a running agent proxy.
type Proxy struct {
	policy   Policy
	upstream string
	srv      *sockserve.Server
	log      *decisionLog
	ups      connset.Set // the connections to the user's agent: Close ends them
}

// Options are a proxy's.
type Options struct {
	// Socket is where it listens: a path in a directory only the user
	// can enter; made here, removed by Close.
	Socket string
	// Upstream is the user's agent's socket (the host's SSH_AUTH_SOCK).
	Upstream string
	Policy   Policy
	// Log receives the decisions, one JSON object a line (nil: none).
	Log io.Writer
}

// Listen starts serving o.Socket.
func Listen(o Options) (*Proxy, error) {
	p := &Proxy{policy: o.Policy, upstream: o.Upstream, log: &decisionLog{w: o.Log}}
	var err error
	if p.srv, err = sockserve.Listen(o.Socket, maxConns, func(c *net.UnixConn) { (&conn{p: p, down: c}).serve() }); err != nil {
		return nil, fmt.Errorf("ssh-agent socket: %w", err)
	}
	return p, nil
}

// Close stops the proxy: the socket is removed and every connection
// ends, those to the user's agent too: a request the agent is slow to
// answer does not hold the session's end.
func (p *Proxy) Close() error {
	if p == nil {
		return nil
	}
	p.ups.Close()
	return p.srv.Close()
}

// dialUpstream connects to the user's agent, unless the proxy is closing;
// p.ups.Untrack ends the connection.
func (p *Proxy) dialUpstream() (net.Conn, error) {
	up, err := net.DialTimeout("unix", p.upstream, 5*time.Second)
	if err != nil {
		return nil, err
	}
	if !p.ups.Track(up) {
		up.Close()
		return nil, net.ErrClosed
	}
	return up, nil
}

// Summary says what was signed and refused in the session; "" when
// nothing was asked to sign.
func (p *Proxy) Summary() string {
	if p == nil {
		return ""
	}
	return p.log.summary()
}

// conn is one client connection, with its own binding and its own
// connection to the user's agent.
type conn struct {
	p     *Proxy
	down  net.Conn
	up    net.Conn
	bound *binding
	binds int
}

func (c *conn) serve() {
	defer func() {
		if c.up != nil {
			c.p.ups.Untrack(c.up)
		}
	}()
	for {
		msg, err := readMessage(c.down)
		if err != nil {
			return
		}
		if err := writeMessage(c.down, c.handle(msg)); err != nil {
			return
		}
	}
}

// readMessage reads one length-prefixed agent message.
func readMessage(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size == 0 || size > maxMessage {
		return nil, fmt.Errorf("agent message of %d bytes", size)
	}
	msg := make([]byte, size)
	if _, err := io.ReadFull(r, msg); err != nil {
		return nil, err
	}
	return msg, nil
}

func writeMessage(w io.Writer, msg []byte) error {
	b := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(msg)), uint32(len(msg)))
	_, err := w.Write(append(b, msg...))
	return err
}

var (
	failure    = []byte{msgFailure}
	success    = []byte{msgSuccess}
	extFailure = []byte{msgExtensionFailure}
)

// requestNames name the messages refused, for the log.
var requestNames = map[byte]string{
	1: "v1 identities", 9: "v1 remove all", 17: "add identity", 18: "remove identity",
	19: "remove all identities", 20: "add smartcard key", 21: "remove smartcard key",
	22: "lock", 23: "unlock", 25: "add constrained identity", 26: "add constrained smartcard key",
	msgExtension: "extension",
}

// handle answers one message.
func (c *conn) handle(msg []byte) []byte {
	body := msg[1:]
	switch msg[0] {
	case msgRequestIdentities:
		return c.list(body)
	case msgSignRequest:
		return c.sign(body)
	case msgExtension:
		name, contents, err := parseExtension(body)
		if err == nil && name == extSessionBind {
			return c.bind(contents)
		}
		c.p.log.add(Decision{Event: "request", Kind: "extension " + printable(name), Verdict: Refused, Reason: "only session-bind@openssh.com is passed on"})
		return failure
	}
	what, ok := requestNames[msg[0]]
	if !ok {
		what = fmt.Sprintf("message %d", msg[0])
	}
	c.p.log.add(Decision{Event: "request", Kind: what, Verdict: Refused, Reason: "only listing keys and signing for the named hosts are passed on"})
	return failure
}

// list passes on the user's agent's identities, those allowed only.
func (c *conn) list(body []byte) []byte {
	refuse := func(why string) []byte {
		c.p.log.add(Decision{Event: "list", Verdict: Refused, Reason: why})
		return failure
	}
	if len(body) != 0 {
		return refuse("malformed request")
	}
	resp, err := c.ask([]byte{msgRequestIdentities})
	if err != nil {
		return refuse(err.Error())
	}
	ids, err := parseIdentities(resp)
	if err != nil {
		return refuse("your agent's answer: " + err.Error())
	}
	var kept []identity
	for _, id := range ids {
		if c.p.policy.allowsKey(id.blob) {
			kept = append(kept, id)
		}
	}
	c.p.log.add(Decision{Event: "list", Verdict: Allowed, Reason: fmt.Sprintf("%d of %d keys listed", len(kept), len(ids))})
	return marshalIdentities(kept)
}

// bind verifies a session-bind and binds the connection to its host. The
// user's agent hears of the binding too, so that keys it holds with a
// destination constraint (ssh-add -h) work; one that does not know the
// extension is no reason to refuse, the proxy holds the binding itself.
func (c *conn) bind(contents []byte) []byte {
	c.binds++
	if c.binds > 1 {
		c.p.log.add(Decision{Event: "bind", Verdict: Refused, Reason: "a second session-bind on one connection"})
		c.bound = nil // and no login is signed on it any more
		return extFailure
	}
	b, fp, err := c.p.policy.checkBind(contents)
	if err != nil {
		c.p.log.add(Decision{Event: "bind", Key: fp, Verdict: Refused, Reason: err.Error()})
		return extFailure
	}
	c.bound = b
	reason := "host key verified against your known_hosts"
	msg := appendString([]byte{msgExtension}, []byte(extSessionBind))
	if resp, err := c.ask(append(msg, contents...)); err != nil || len(resp) != 1 || resp[0] != msgSuccess {
		reason += "; your agent did not take the binding"
	}
	c.p.log.add(Decision{Event: "bind", Host: b.host, Key: fp, Verdict: Allowed, Reason: reason})
	return success
}

// sign passes on a sign request the policy allows.
func (c *conn) sign(body []byte) []byte {
	req, err := parseSignRequest(body)
	if err != nil {
		c.p.log.add(Decision{Event: "sign", Verdict: Refused, Reason: "malformed sign request"})
		return failure
	}
	d := Decision{Event: "sign", Key: Fingerprint(req.key), Verdict: Refused}
	kind, target, err := c.p.policy.checkSign(c.bound, req)
	d.Kind = kind
	if kind == KindSSHSIG {
		d.Namespace = target
	} else {
		d.Host = target
	}
	if err != nil {
		d.Reason = err.Error()
		c.p.log.add(d)
		return failure
	}
	resp, err := c.ask(append([]byte{msgSignRequest}, body...))
	switch {
	case err != nil:
		d.Reason = err.Error()
	case len(resp) == 0 || resp[0] != msgSignResponse:
		d.Reason = "your agent refused to sign"
	default:
		d.Verdict = Allowed
	}
	c.p.log.add(d)
	if d.Verdict != Allowed {
		return failure
	}
	return resp
}

// ask sends msg to the user's agent, on this connection's own connection
// to it, and returns the answer.
func (c *conn) ask(msg []byte) ([]byte, error) {
	if c.up == nil {
		up, err := c.p.dialUpstream()
		if err != nil {
			return nil, fmt.Errorf("your ssh-agent: %w", err)
		}
		c.up = up
	}
	resp, err := roundTripWithin(c.up, msg, upstreamTimeout)
	if err != nil {
		// Out of step with it now: the next request dials again.
		c.p.ups.Untrack(c.up)
		c.up = nil
		return nil, fmt.Errorf("your ssh-agent: %w", err)
	}
	return resp, nil
}

// roundTripWithin sends msg on up and reads the answer, within d.
func roundTripWithin(up net.Conn, msg []byte, d time.Duration) ([]byte, error) {
	if err := up.SetDeadline(time.Now().Add(d)); err != nil {
		return nil, err
	}
	if err := writeMessage(up, msg); err != nil {
		return nil, err
	}
	return readMessage(up)
}

// printable keeps a name read off the wire fit for the log.
func printable(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	b := []byte(s)
	for i, ch := range b {
		if ch < 0x20 || ch > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}
