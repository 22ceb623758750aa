package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// agentProbe makes hand-made requests to the ssh-agent at SOCKET, as a
// hostile sandbox would, with x/crypto's agent client; gitKey and
// otherKey are the two test servers' private host keys, so that its
// session-binds are genuinely signed. It prints one line a request,
// "NAME signed" or "NAME refused: ERROR":
//
//	no-bind      a login signature on a connection that bound nothing
//	other-host   one on a connection bound to other.test (not named)
//	wrong-id     one bound to git.test, for another session id
//	bound-login  one bound to git.test, for its session id (the control)
//	forwarding   one bound to git.test with the forwarding flag set
func agentProbe(args []string) error {
	if len(args) != 3 {
		return errors.New("usage: testpeer agent-probe SOCKET GIT_HOST_KEY OTHER_HOST_KEY")
	}
	hostKey := func(path string) (ssh.Signer, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		return ssh.ParsePrivateKey(b)
	}
	gitHost, err := hostKey(args[1])
	if err != nil {
		return err
	}
	otherHost, err := hostKey(args[2])
	if err != nil {
		return err
	}
	dial := func() (agent.ExtendedAgent, error) {
		c, err := net.Dial("unix", args[0])
		if err != nil {
			return nil, err
		}
		return agent.NewClient(c), nil
	}
	first, err := dial()
	if err != nil {
		return err
	}
	keys, err := first.List()
	if err != nil || len(keys) == 0 {
		return fmt.Errorf("no key listed: %v", err)
	}
	key := keys[0]
	for _, p := range []struct {
		name       string
		bind       ssh.Signer // nil: no bind
		forwarding bool
		otherID    bool
	}{
		{name: "no-bind"},
		{name: "other-host", bind: otherHost},
		{name: "wrong-id", bind: gitHost, otherID: true},
		{name: "bound-login", bind: gitHost},
		{name: "forwarding", bind: gitHost, forwarding: true},
	} {
		c, err := dial()
		if err != nil {
			return err
		}
		id := sessionID()
		if p.bind != nil {
			sig, err := p.bind.Sign(rand.Reader, id)
			if err != nil {
				return err
			}
			bind := ssh.Marshal(struct {
				HostKey, ID, Sig []byte
				Forwarding       bool
			}{p.bind.PublicKey().Marshal(), id, ssh.Marshal(sig), p.forwarding})
			_, _ = c.Extension("session-bind@openssh.com", bind) // refusals show in the signing
		}
		if p.otherID {
			id = sessionID()
		}
		data := ssh.Marshal(struct {
			ID                    []byte
			Type                  byte
			User, Service, Method string
			HasSig                bool
			Alg                   string
			Key                   []byte
		}{id, 50, "git", "ssh-connection", "publickey", true, key.Type(), key.Marshal()})
		if _, err := c.Sign(key, data); err != nil {
			fmt.Printf("%s refused: %v\n", p.name, err)
		} else {
			fmt.Printf("%s signed\n", p.name)
		}
	}
	return nil
}

func sessionID() []byte {
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	return id
}
