package network

import (
	"net"
	"sync"
)

// connSet holds the connections a server of the launcher passes on (the
// relay's, --publish's): it bounds how many it holds at once, and ends
// them all when closed.
type connSet struct {
	slots  chan struct{} // one per connection held
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup // the goroutines serving
}

// init readies the set for up to max connections at once.
func (s *connSet) init(max int) {
	s.slots, s.conns = make(chan struct{}, max), map[net.Conn]struct{}{}
}

// serve runs f in a goroutine that closeAll's caller can wait for (wg).
func (s *connSet) serve(f func()) {
	s.wg.Add(1)
	go func() { defer s.wg.Done(); f() }()
}

// track keeps c, to be closed by closeAll; false when the set is closed.
func (s *connSet) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

// untrack closes c and forgets it.
func (s *connSet) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
}

// closeAll closes every connection held and refuses new ones; false when
// it was closed already.
func (s *connSet) closeAll() bool {
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

// acceptLoop passes each connection l accepts to pass, in a goroutine of
// its own, until l is closed. Beyond the set's bound a connection is
// reset.
func (s *connSet) acceptLoop(l *net.TCPListener, pass func(*net.TCPConn)) {
	for {
		c, err := l.AcceptTCP()
		if err != nil {
			return // closed
		}
		select {
		case s.slots <- struct{}{}:
		default:
			c.SetLinger(0) // too many at once: a reset
			c.Close()
			continue
		}
		if !s.track(c) {
			c.Close()
			return
		}
		s.serve(func() { defer func() { s.untrack(c); <-s.slots }(); pass(c) })
	}
}
