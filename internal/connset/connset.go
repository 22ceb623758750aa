// Package connset holds the connections a server of the launcher has
// open, so that closing the server ends them all, those being made
// included: the relay's and --publish's passed connections, a served
// socket's clients, the ssh-agent proxy's connections to the user's
// agent.
package connset

import (
	"net"
	"sync"
)

// Set is a set of open connections; the zero Set is empty and open.
type Set struct {
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// Track keeps c, for Close to close; false, with c left open, when the
// set is closed already.
func (s *Set) Track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.conns == nil {
		s.conns = map[net.Conn]struct{}{}
	}
	s.conns[c] = struct{}{}
	return true
}

// WhileOpen runs f unless the set is closed, and Close waits for it
// (f must not call the set's methods); false when closed already.
func (s *Set) WhileOpen(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	f()
	return true
}

// Untrack closes c and forgets it.
func (s *Set) Untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
}

// Close closes every connection held and refuses new ones; false when
// it was closed already.
func (s *Set) Close() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	return true
}
