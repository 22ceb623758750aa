package network

import (
	"net"
	"sync"

	"github.com/claudebox/claudebox/internal/connset"
)

// connSet holds the connections a server of the launcher passes on (the
// relay's, --publish's): it bounds how many it holds at once, and ends
// them all when closed (held.Close).
type connSet struct {
	slots chan struct{} // one per connection held
	held  connset.Set
	wg    sync.WaitGroup // the goroutines serving
}

// init readies the set for up to max connections at once.
func (s *connSet) init(max int) { s.slots = make(chan struct{}, max) }

// serve runs f in a goroutine that the closer can wait for (wg).
func (s *connSet) serve(f func()) {
	s.wg.Add(1)
	go func() { defer s.wg.Done(); f() }()
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
		if !s.held.Track(c) {
			c.Close()
			return
		}
		s.serve(func() { defer func() { s.held.Untrack(c); <-s.slots }(); pass(c) })
	}
}
