package sshagent

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// countingAgent is the user's agent of the tests: a keyring that counts
// what it signs.
type countingAgent struct {
	agent.ExtendedAgent
	signed atomic.Int32
}

func (a *countingAgent) Sign(k ssh.PublicKey, data []byte) (*ssh.Signature, error) {
	a.signed.Add(1)
	return a.ExtendedAgent.Sign(k, data)
}

func (a *countingAgent) SignWithFlags(k ssh.PublicKey, data []byte, f agent.SignatureFlags) (*ssh.Signature, error) {
	a.signed.Add(1)
	return a.ExtendedAgent.SignWithFlags(k, data, f)
}

// world is a proxy in front of a user's agent holding two keys, and the
// host keys of git.test (named) and other.test (not).
type world struct {
	t                *testing.T
	upstream         *countingAgent
	user, other      ssh.Signer // the user's keys
	gitHost, badHost ssh.Signer // host keys
	proxy            *Proxy
	socket           string
	log              *bytes.Buffer
	logMu            sync.Mutex
	bindErr          error // TestRefused's bind's answer
}

func newSigner(t *testing.T) (ssh.Signer, ed25519.PrivateKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s, priv
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func newWorld(t *testing.T, edit func(*world, *Policy)) *world {
	t.Helper()
	w := &world{t: t, log: &bytes.Buffer{}}
	var userPriv, otherPriv ed25519.PrivateKey
	w.user, userPriv = newSigner(t)
	w.other, otherPriv = newSigner(t)
	w.gitHost, _ = newSigner(t)
	w.badHost, _ = newSigner(t)
	ring := agent.NewKeyring().(agent.ExtendedAgent)
	for _, k := range []agent.AddedKey{{PrivateKey: userPriv, Comment: "user"}, {PrivateKey: otherPriv, Comment: "other"}} {
		if err := ring.Add(k); err != nil {
			t.Fatal(err)
		}
	}
	w.upstream = &countingAgent{ExtendedAgent: ring}
	dir := t.TempDir()
	upSock := filepath.Join(dir, "upstream.sock")
	ln, err := net.Listen("unix", upSock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = agent.ServeAgent(w.upstream, c); c.Close() }()
		}
	}()
	pol := Policy{Hosts: []Host{{Name: "git.test", Keys: []ssh.PublicKey{w.gitHost.PublicKey()}}}, Namespaces: []string{"git"}}
	if edit != nil {
		edit(w, &pol)
	}
	w.socket = filepath.Join(dir, "proxy.sock")
	w.proxy, err = Listen(Options{Socket: w.socket, Upstream: upSock, Policy: pol, Log: lockedWriter{&w.logMu, w.log}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.proxy.Close() })
	return w
}

// client is a connection to the proxy, as ssh would open one.
func (w *world) client() agent.ExtendedAgent {
	w.t.Helper()
	c, err := net.Dial("unix", w.socket)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { c.Close() })
	return agent.NewClient(c)
}

func sessionID() []byte {
	id := make([]byte, 64)
	_, _ = rand.Read(id)
	return id
}

// bindMsg is session-bind@openssh.com's contents for a session id signed
// by host (signedID: what host actually signed).
func bindMsg(t *testing.T, host ssh.Signer, id, signedID []byte, forwarding bool) []byte {
	t.Helper()
	sig, err := host.Sign(rand.Reader, signedID)
	if err != nil {
		t.Fatal(err)
	}
	b := appendString(nil, host.PublicKey().Marshal())
	b = appendString(b, id)
	b = appendString(b, ssh.Marshal(sig))
	if forwarding {
		return append(b, 1)
	}
	return append(b, 0)
}

// loginData is what ssh has the agent sign to log in with key in session
// id.
func loginData(id []byte, key ssh.PublicKey) []byte {
	b := appendString(nil, id)
	b = append(b, msgUserauthRequest)
	b = appendString(b, []byte("git"))
	b = appendString(b, []byte(serviceConnection))
	b = appendString(b, []byte(methodPublickey))
	b = append(b, 1)
	b = appendString(b, []byte(key.Type()))
	return appendString(b, key.Marshal())
}

func sshsigData(namespace string) []byte {
	b := appendString([]byte(sshsigMagic), []byte(namespace))
	b = appendString(b, nil)
	b = appendString(b, []byte("sha512"))
	return appendString(b, make([]byte, 64))
}

func (w *world) logged() []Decision {
	w.logMu.Lock()
	defer w.logMu.Unlock()
	var out []Decision
	for _, line := range strings.Split(strings.TrimSpace(w.log.String()), "\n") {
		var d Decision
		if line != "" && json.Unmarshal([]byte(line), &d) == nil {
			out = append(out, d)
		}
	}
	return out
}

func TestLoginBoundToNamedHostIsSigned(t *testing.T) {
	w := newWorld(t, nil)
	c := w.client()
	keys, err := c.List()
	if err != nil || len(keys) != 2 {
		t.Fatalf("list: %v %v", keys, err)
	}
	id := sessionID()
	if _, err := c.Extension(extSessionBind, bindMsg(t, w.gitHost, id, id, false)); err != nil {
		t.Fatalf("bind to git.test: %v", err)
	}
	data := loginData(id, w.user.PublicKey())
	sig, err := c.Sign(w.user.PublicKey(), data)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	if err := w.user.PublicKey().Verify(data, sig); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	if n := w.upstream.signed.Load(); n != 1 {
		t.Fatalf("the user's agent signed %d times, want 1", n)
	}
	log := w.logged()
	last := log[len(log)-1]
	if last.Event != "sign" || last.Verdict != Allowed || last.Host != "git.test" || last.Key != Fingerprint(w.user.PublicKey().Marshal()) {
		t.Fatalf("last decision %+v", last)
	}
	if s := w.proxy.Summary(); !strings.Contains(s, "signed 1 for git.test") {
		t.Fatalf("summary %q", s)
	}
}

func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		// bind binds c (or not) and returns the session id to sign for.
		run func(w *world, c agent.ExtendedAgent) []byte
		// bindFails: the bind itself must be refused.
		bindFails bool
	}{
		{name: "no bind", run: func(w *world, c agent.ExtendedAgent) []byte { return sessionID() }},
		{name: "bound to the other host", bindFails: true, run: func(w *world, c agent.ExtendedAgent) []byte {
			id := sessionID()
			_, err := c.Extension(extSessionBind, bindMsg(w.t, w.badHost, id, id, false))
			w.check(err)
			return id
		}},
		{name: "data not starting with the bound id", run: func(w *world, c agent.ExtendedAgent) []byte {
			id := sessionID()
			_, err := c.Extension(extSessionBind, bindMsg(w.t, w.gitHost, id, id, false))
			if err != nil {
				w.t.Fatalf("bind: %v", err)
			}
			return sessionID()
		}},
		{name: "bad server signature", bindFails: true, run: func(w *world, c agent.ExtendedAgent) []byte {
			id := sessionID()
			_, err := c.Extension(extSessionBind, bindMsg(w.t, w.gitHost, id, sessionID(), false))
			w.check(err)
			return id
		}},
		{name: "forwarding bind", bindFails: true, run: func(w *world, c agent.ExtendedAgent) []byte {
			id := sessionID()
			_, err := c.Extension(extSessionBind, bindMsg(w.t, w.gitHost, id, id, true))
			w.check(err)
			return id
		}},
		{name: "bound on another connection", run: func(w *world, c agent.ExtendedAgent) []byte {
			id := sessionID()
			if _, err := w.client().Extension(extSessionBind, bindMsg(w.t, w.gitHost, id, id, false)); err != nil {
				w.t.Fatalf("bind: %v", err)
			}
			return id
		}},
		{name: "a second bind on the connection", bindFails: true, run: func(w *world, c agent.ExtendedAgent) []byte {
			id := sessionID()
			if _, err := c.Extension(extSessionBind, bindMsg(w.t, w.gitHost, id, id, false)); err != nil {
				w.t.Fatalf("bind: %v", err)
			}
			id2 := sessionID()
			_, err := c.Extension(extSessionBind, bindMsg(w.t, w.gitHost, id2, id2, false))
			w.check(err)
			return id
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, nil)
			w.t = t
			c := w.client()
			w.bindErr = nil
			id := tc.run(w, c)
			if tc.bindFails && w.bindErr == nil {
				t.Fatal("the bind was accepted")
			}
			_, err := c.Sign(w.user.PublicKey(), loginData(id, w.user.PublicKey()))
			if err == nil {
				t.Fatal("signed")
			}
			if n := w.upstream.signed.Load(); n != 0 {
				t.Fatalf("the user's agent signed %d times", n)
			}
			log := w.logged()
			if last := log[len(log)-1]; last.Event != "sign" || last.Verdict != Refused || last.Reason == "" {
				t.Fatalf("last decision %+v", last)
			}
		})
	}
}

// check records a bind's error for TestRefused.
func (w *world) check(err error) { w.bindErr = err }

func TestLoginDataMustMatchBinding(t *testing.T) {
	w := newWorld(t, nil)
	c := w.client()
	id := sessionID()
	if _, err := c.Extension(extSessionBind, bindMsg(t, w.gitHost, id, id, false)); err != nil {
		t.Fatal(err)
	}
	good := loginData(id, w.user.PublicKey())
	for name, data := range map[string][]byte{
		"another key named":   loginData(id, w.other.PublicKey()),
		"trailing bytes":      append(bytes.Clone(good), 0),
		"truncated":           good[:len(good)-1],
		"not a login request": append(appendString(nil, id), 51),
		"only the session id": appendString(nil, id),
	} {
		if _, err := c.Sign(w.user.PublicKey(), data); err == nil {
			t.Errorf("%s: signed", name)
		}
	}
	if n := w.upstream.signed.Load(); n != 0 {
		t.Fatalf("the user's agent signed %d times", n)
	}
	// Positive control: on the same connection the good data is signed.
	if _, err := c.Sign(w.user.PublicKey(), good); err != nil {
		t.Fatalf("good login: %v", err)
	}
}

func TestSSHSIGNamespaces(t *testing.T) {
	w := newWorld(t, nil)
	c := w.client()
	if _, err := c.Sign(w.user.PublicKey(), sshsigData("file")); err == nil {
		t.Fatal("signed an SSHSIG in namespace file")
	}
	if _, err := c.Sign(w.user.PublicKey(), sshsigData("git\x00")); err == nil {
		t.Fatal("signed an SSHSIG in namespace git\\0")
	}
	if n := w.upstream.signed.Load(); n != 0 {
		t.Fatalf("the user's agent signed %d times", n)
	}
	if _, err := c.Sign(w.user.PublicKey(), sshsigData("git")); err != nil {
		t.Fatalf("SSHSIG in namespace git: %v", err)
	}
	// Without --ssh-agent-sign, not even git.
	w2 := newWorld(t, func(_ *world, p *Policy) { p.Namespaces = nil })
	if _, err := w2.client().Sign(w2.user.PublicKey(), sshsigData("git")); err == nil {
		t.Fatal("signed an SSHSIG with no namespace allowed")
	}
}

func TestEverythingElseRefused(t *testing.T) {
	w := newWorld(t, nil)
	c := w.client()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	if err := c.Add(agent.AddedKey{PrivateKey: priv}); err == nil {
		t.Error("add passed")
	}
	if err := c.Remove(w.user.PublicKey()); err == nil {
		t.Error("remove passed")
	}
	if err := c.RemoveAll(); err == nil {
		t.Error("remove all passed")
	}
	if err := c.Lock([]byte("x")); err == nil {
		t.Error("lock passed")
	}
	if err := c.Unlock([]byte("x")); err == nil {
		t.Error("unlock passed")
	}
	if _, err := c.Extension("query", nil); err == nil {
		t.Error("extension query passed")
	}
	// The user's agent is as it was, and still answers (control).
	keys, err := w.upstream.List()
	if err != nil || len(keys) != 2 {
		t.Fatalf("the user's agent holds %d keys (%v), want 2", len(keys), err)
	}
	if keys, err := c.List(); err != nil || len(keys) != 2 {
		t.Fatalf("list through the proxy: %d keys, %v", len(keys), err)
	}
}

func TestIdentitiesNamed(t *testing.T) {
	none := newWorld(t, func(_ *world, p *Policy) { p.Identities = []string{"SHA256:none"} })
	keys, err := none.client().List()
	if err != nil || len(keys) != 0 {
		t.Fatalf("listed %d keys (%v), want none", len(keys), err)
	}
	w := newWorld(t, func(w *world, p *Policy) { p.Identities = []string{Fingerprint(w.user.PublicKey().Marshal())} })
	c := w.client()
	keys, err = c.List()
	if err != nil || len(keys) != 1 || !bytes.Equal(keys[0].Marshal(), w.user.PublicKey().Marshal()) {
		t.Fatalf("listed %v (%v), want the user key only", keys, err)
	}
	id := sessionID()
	if _, err := c.Extension(extSessionBind, bindMsg(t, w.gitHost, id, id, false)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sign(w.other.PublicKey(), loginData(id, w.other.PublicKey())); err == nil {
		t.Fatal("signed with a key not named")
	}
	if _, err := c.Sign(w.user.PublicKey(), loginData(id, w.user.PublicKey())); err != nil {
		t.Fatalf("the named key: %v", err)
	}
}

// A user's agent that never answers (one waiting for a touch, or a
// sandbox's request it stalls on) does not hold the proxy's Close, which
// the session's end waits for.
func TestCloseEndsAStalledRequest(t *testing.T) {
	dir := t.TempDir()
	upSock := filepath.Join(dir, "upstream.sock")
	ln, err := net.Listen("unix", upSock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c // read nothing, answer nothing
		}
	}()
	p, err := Listen(Options{Socket: filepath.Join(dir, "proxy.sock"), Upstream: upSock})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("unix", filepath.Join(dir, "proxy.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte{0, 0, 0, 1, 11}); err != nil { // list the keys
		t.Fatal(err)
	}
	select {
	case up := <-accepted:
		defer up.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("the request did not reach the user's agent")
	}
	closed := make(chan error, 1)
	start := time.Now()
	go func() { closed <- p.Close() }()
	select {
	case <-closed:
		if d := time.Since(start); d > time.Second {
			t.Errorf("Close took %v", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close waits for the stalled request")
	}
}
