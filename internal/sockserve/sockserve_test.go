package sockserve

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestLimitsAndClose: the socket is the user's only, connections beyond
// the limit are closed at once, Close ends the rest and removes the
// socket.
func TestLimitsAndClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	held := make(chan struct{}, 4)
	s, err := Listen(path, 2, func(c *net.UnixConn) {
		held <- struct{}{}
		b := make([]byte, 1)
		c.Read(b) // until the client or Close ends it
	})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %v %v, want mode 0600", fi, err)
	}
	var conns []net.Conn
	for range 2 {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		<-held
	}
	third, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	third.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := third.Read(make([]byte, 1)); err == nil {
		t.Fatal("a third connection was served")
	}
	done := make(chan error)
	go func() { done <- s.Close() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the held connections")
	}
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("a connection outlived Close")
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("socket left: %v", err)
	}
}
