// Package sockserve serves a unix socket for a sandbox: made 0600 at a
// path in a directory only the user can enter, one goroutine a
// connection, a bounded number of connections at once (one more is
// closed at once), and Close ends them all.
package sockserve

import (
	"errors"
	"net"
	"os"
	"sync"
	"time"

	"github.com/claudebox/claudebox/internal/connset"
)

// Server is a served socket.
type Server struct {
	ln     *net.UnixListener
	slots  chan struct{}
	handle func(*net.UnixConn)
	wg     sync.WaitGroup
	conns  connset.Set
}

// Listen serves path, handing each connection to handle (which need not
// close it), max at once.
func Listen(path string, max int, handle func(*net.UnixConn)) (*Server, error) {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	s := &Server{ln: ln, slots: make(chan struct{}, max), handle: handle}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		select {
		case s.slots <- struct{}{}:
		default:
			c.Close() // too many at once
			continue
		}
		if !s.conns.Track(c) {
			c.Close()
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.slots }()
			defer s.conns.Untrack(c)
			s.handle(c)
		}()
	}
}

// Close removes the socket, ends every connection and waits for their
// handlers.
func (s *Server) Close() error {
	s.conns.Close()
	err := s.ln.Close() // unlinks the socket
	s.wg.Wait()
	return err
}
