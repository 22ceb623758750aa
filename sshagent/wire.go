package sshagent

import (
	"encoding/binary"
	"errors"
)

// Message numbers of the agent protocol (draft-ietf-sshm-ssh-agent), and
// SSH_MSG_USERAUTH_REQUEST (RFC 4252), which starts the data a publickey
// login signs after the session identifier.
const (
	msgFailure           = 5
	msgSuccess           = 6
	msgRequestIdentities = 11
	msgIdentitiesAnswer  = 12
	msgSignRequest       = 13
	msgSignResponse      = 14
	msgExtension         = 27
	msgExtensionFailure  = 28

	msgUserauthRequest = 50
)

// maxMessage caps one agent message, either way: OpenSSH's own agent
// refuses more (AGENT_MAX_LEN, 256 KiB).
const maxMessage = 256 << 10

// Names on the wire.
const (
	extSessionBind    = "session-bind@openssh.com"
	methodPublickey   = "publickey"
	methodHostbound   = "publickey-hostbound-v00@openssh.com"
	sshsigMagic       = "SSHSIG"
	serviceConnection = "ssh-connection"
)

var errShape = errors.New("malformed message")

// reader reads the SSH wire encoding (RFC 4251 §5) and remembers the
// first error: every read after it returns zero values.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) byte() byte {
	if r.bad || len(r.b) < 1 {
		r.bad = true
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uint32() uint32 {
	if r.bad || len(r.b) < 4 {
		r.bad = true
		return 0
	}
	n := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return n
}

func (r *reader) string() []byte {
	n := r.uint32()
	if r.bad || uint64(n) > uint64(len(r.b)) {
		r.bad = true
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

// bool reads a boolean, which is 0 or 1 and nothing else here.
func (r *reader) bool() bool {
	c := r.byte()
	if c > 1 {
		r.bad = true
	}
	return c == 1
}

// end is nil when everything was read, well formed, with nothing left.
func (r *reader) end() error {
	if r.bad || len(r.b) != 0 {
		return errShape
	}
	return nil
}

// appendString appends s in the wire encoding.
func appendString(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// signRequest is SSH_AGENTC_SIGN_REQUEST's body.
type signRequest struct {
	key, data []byte
	flags     uint32
}

func parseSignRequest(body []byte) (signRequest, error) {
	r := reader{b: body}
	s := signRequest{key: r.string(), data: r.string(), flags: r.uint32()}
	return s, r.end()
}

// parseExtension splits SSH_AGENTC_EXTENSION's body into the extension's
// name and its contents.
func parseExtension(body []byte) (name string, contents []byte, err error) {
	r := reader{b: body}
	n := r.string()
	if r.bad {
		return "", nil, errShape
	}
	return string(n), r.b, nil
}

// sessionBind is session-bind@openssh.com's contents (OpenSSH
// PROTOCOL.agent §1): the server's host key, the session identifier, the
// server's signature over it made in the key exchange, and whether the
// client forwards the agent over that session.
type sessionBind struct {
	hostKey, sessionID, signature []byte
	forwarding                    bool
}

func parseSessionBind(contents []byte) (sessionBind, error) {
	r := reader{b: contents}
	s := sessionBind{hostKey: r.string(), sessionID: r.string(), signature: r.string(), forwarding: r.bool()}
	if err := r.end(); err != nil {
		return s, err
	}
	// A session identifier is a key exchange's hash: 20 (sha1) to 64
	// (sha512) bytes.
	if len(s.sessionID) < 20 || len(s.sessionID) > 64 {
		return s, errors.New("a session identifier of an unexpected length")
	}
	return s, nil
}

// userauth is the data a publickey login signs (RFC 4252 §7; OpenSSH's
// publickey-hostbound-v00 method adds the server's host key).
type userauth struct {
	sessionID, user, key, hostKey []byte
	hostbound                     bool
}

// parseUserauth reads data as a publickey login's signed data, strictly:
// every field there, the service ssh-connection, a signature flag set,
// and nothing after.
func parseUserauth(data []byte) (userauth, error) {
	r := reader{b: data}
	u := userauth{sessionID: r.string()}
	if r.byte() != msgUserauthRequest || r.bad {
		return u, errors.New("not a login request (SSH_MSG_USERAUTH_REQUEST)")
	}
	u.user = r.string()
	service := r.string()
	method := string(r.string())
	hasSig := r.bool()
	r.string() // the key's algorithm: the agent signs with the key it is given
	u.key = r.string()
	switch method {
	case methodPublickey:
	case methodHostbound:
		u.hostbound = true
		u.hostKey = r.string()
	default:
		return u, errors.New("not a publickey login")
	}
	if err := r.end(); err != nil {
		return u, err
	}
	if string(service) != serviceConnection || !hasSig {
		return u, errors.New("not a publickey login to ssh-connection")
	}
	return u, nil
}

// sshsig is the data ssh-keygen -Y sign has an agent sign (OpenSSH
// PROTOCOL.sshsig): the magic, a namespace, a reserved string, the hash
// algorithm and the message's hash.
type sshsig struct {
	namespace string
}

// isSSHSIG tells SSHSIG data from a login's, which starts with a
// session identifier's length (a first byte of 0).
func isSSHSIG(data []byte) bool {
	return len(data) >= len(sshsigMagic) && string(data[:len(sshsigMagic)]) == sshsigMagic
}

func parseSSHSIG(data []byte) (sshsig, error) {
	if !isSSHSIG(data) {
		return sshsig{}, errShape
	}
	r := reader{b: data[len(sshsigMagic):]}
	s := sshsig{namespace: string(r.string())}
	reserved := r.string()
	alg := r.string()
	hash := r.string()
	if err := r.end(); err != nil {
		return s, err
	}
	want := map[string]int{"sha256": 32, "sha512": 64}[string(alg)]
	if len(reserved) != 0 || want == 0 || len(hash) != want || s.namespace == "" {
		return s, errors.New("not an SSHSIG signing request (PROTOCOL.sshsig)")
	}
	return s, nil
}

// identity is one key of an identities answer.
type identity struct {
	blob, comment []byte
}

// parseIdentities reads SSH_AGENT_IDENTITIES_ANSWER (the whole message).
func parseIdentities(msg []byte) ([]identity, error) {
	r := reader{b: msg}
	if r.byte() != msgIdentitiesAnswer {
		return nil, errShape
	}
	n := r.uint32()
	if r.bad || uint64(n) > uint64(len(r.b))/8 {
		return nil, errShape
	}
	ids := make([]identity, 0, n)
	for range n {
		ids = append(ids, identity{blob: r.string(), comment: r.string()})
	}
	return ids, r.end()
}

// marshalIdentities writes SSH_AGENT_IDENTITIES_ANSWER.
func marshalIdentities(ids []identity) []byte {
	b := binary.BigEndian.AppendUint32([]byte{msgIdentitiesAnswer}, uint32(len(ids)))
	for _, id := range ids {
		b = appendString(appendString(b, id.blob), id.comment)
	}
	return b
}
