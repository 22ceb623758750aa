package sshagent

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"golang.org/x/crypto/ssh"
)

// FuzzMessage feeds what a sandbox can send the proxy to its parsers and
// its decisions: nothing panics, a login is signed only when the data
// starts with the bound session id followed by SSH_MSG_USERAUTH_REQUEST,
// an SSHSIG only in an allowed namespace, and an identities answer that
// parses marshals back to the same bytes.
func FuzzMessage(f *testing.F) {
	seed := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	host, err := ssh.NewSignerFromKey(seed)
	if err != nil {
		f.Fatal(err)
	}
	user, err := ssh.NewPublicKey(seed.Public())
	if err != nil {
		f.Fatal(err)
	}
	id := bytes.Repeat([]byte{7}, 32)
	sig, err := host.Sign(nil, id)
	if err != nil {
		f.Fatal(err)
	}
	bind := appendString(appendString(appendString(nil, host.PublicKey().Marshal()), id), ssh.Marshal(sig))
	bind = append(bind, 0)
	login := loginData(id, user)
	f.Add(append([]byte{msgExtension}, appendString(nil, []byte(extSessionBind))...), bind)
	f.Add(append([]byte{msgSignRequest}, appendString(appendString(nil, user.Marshal()), login)...), login)
	f.Add([]byte{msgSignRequest}, sshsigData("git"))
	f.Add(marshalIdentities([]identity{{blob: user.Marshal(), comment: []byte("c")}}), []byte{})
	pol := &Policy{Hosts: []Host{{Name: "git.test", Keys: []ssh.PublicKey{host.PublicKey()}}}, Namespaces: []string{"git"}}
	bound := &binding{host: "git.test", hostKey: host.PublicKey().Marshal(), sessionID: id}
	f.Fuzz(func(t *testing.T, msg, data []byte) {
		if len(msg) == 0 {
			return
		}
		switch msg[0] {
		case msgExtension:
			if name, contents, err := parseExtension(msg[1:]); err == nil && name == extSessionBind {
				_, _, _ = pol.checkBind(contents)
			}
			_, _, _ = pol.checkBind(data)
		case msgSignRequest:
			if req, err := parseSignRequest(msg[1:]); err == nil {
				_, _, _ = pol.checkSign(bound, req)
			}
		case msgIdentitiesAnswer:
			if ids, err := parseIdentities(msg); err == nil && !bytes.Equal(marshalIdentities(ids), msg) {
				t.Fatalf("identities %x marshal back to %x", msg, marshalIdentities(ids))
			}
		}
		for _, b := range []*binding{nil, bound} {
			kind, target, err := pol.checkSign(b, signRequest{key: user.Marshal(), data: data})
			if err != nil {
				continue
			}
			switch kind {
			case KindLogin:
				prefix := append(appendString(nil, id), msgUserauthRequest)
				if b == nil || !bytes.HasPrefix(data, prefix) || target != "git.test" {
					t.Fatalf("login data %x signed (bound: %v)", data, b != nil)
				}
			case KindSSHSIG:
				if target != "git" || !bytes.HasPrefix(data, []byte(sshsigMagic)) {
					t.Fatalf("SSHSIG %x signed in %q", data, target)
				}
			default:
				t.Fatalf("kind %q allowed", kind)
			}
		}
		_, _ = parseUserauth(data)
		_, _ = parseSSHSIG(data)
	})
}

// TestParseUserauthHostbound: the hostbound method carries the host key,
// which must be the bound one.
func TestParseUserauthHostbound(t *testing.T) {
	id := bytes.Repeat([]byte{1}, 32)
	b := appendString(nil, id)
	b = append(b, msgUserauthRequest)
	for _, s := range []string{"git", serviceConnection, methodHostbound} {
		b = appendString(b, []byte(s))
	}
	b = append(b, 1)
	b = appendString(appendString(appendString(b, []byte("ssh-ed25519")), []byte("KEY")), []byte("HOSTKEY"))
	u, err := parseUserauth(b)
	if err != nil || !u.hostbound || string(u.hostKey) != "HOSTKEY" || string(u.key) != "KEY" {
		t.Fatalf("%+v %v", u, err)
	}
	pol := &Policy{}
	_, _, err = pol.checkSign(&binding{host: "h", hostKey: []byte("OTHER"), sessionID: id}, signRequest{key: []byte("KEY"), data: b})
	if err == nil {
		t.Fatal("a hostbound login naming another host key was allowed")
	}
	if _, _, err := pol.checkSign(&binding{host: "h", hostKey: []byte("HOSTKEY"), sessionID: id}, signRequest{key: []byte("KEY"), data: b}); err != nil {
		t.Fatalf("control: %v", err)
	}
}
