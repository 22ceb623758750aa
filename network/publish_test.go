package network

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/claudebox/claudebox/launch"
)

// A host port in use refuses the publish, naming the flag, with a hint;
// and nothing of it stays bound.
func TestListenInUse(t *testing.T) {
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := uint16(busy.Addr().(*net.TCPAddr).Port)
	p, err := Listen([]launch.Publish{{HostPort: port, SandboxPort: 80}}, nil)
	if !errors.Is(err, ErrPublish) || p != nil {
		t.Fatalf("Listen on a busy port: %v, %v", p, err)
	}
	want := "--publish " + strconv.Itoa(int(port)) + ":80: host port " + strconv.Itoa(int(port)) + " is in use on 127.0.0.1"
	if !strings.Contains(err.Error(), want) || launch.Hint(err) == "" {
		t.Errorf("error %q (hint %q), want it to say %q, with a hint", err, launch.Hint(err), want)
	}
}

// The loopback default listens on 127.0.0.1 and ::1; once closed, nothing
// listens, and the same port publishes again at once (SO_REUSEADDR), even
// with a connection of the first in TIME_WAIT.
func TestListenBothLoopbacksAndAgain(t *testing.T) {
	probe, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(probe.Addr().(*net.TCPAddr).Port)
	probe.Close()
	pub := []launch.Publish{{HostPort: port, SandboxPort: port}}
	p, err := Listen(pub, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, pl := range p.listeners {
		got = append(got, pl.l.Addr().String())
	}
	if len(got) != 2 || !strings.HasPrefix(got[0], "127.0.0.1:") || !strings.HasPrefix(got[1], "[::1]:") {
		t.Errorf("listening on %v, want 127.0.0.1 and [::1]", got)
	}
	// A connection closed by the host side first leaves TIME_WAIT there.
	c, err := net.Dial("tcp4", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port).String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := p.listeners[0].l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	c.Close()
	p.Close()
	if c, err := net.Dial("tcp4", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port).String()); err == nil {
		c.Close()
		t.Fatal("something still listens after Close")
	}
	p, err = Listen(pub, io.Discard)
	if err != nil {
		t.Fatalf("publishing the same port again: %v", err)
	}
	p.Close()
}

func TestListeningPorts(t *testing.T) {
	table := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1435 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1001        0 123 1 0000000000000000 100 0 0 10 0
   1: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1001        0 124 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000  1001        0 125 1 0000000000000000 20 4 30 10 -1
   3: 3500007F:0035 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1001        0 126 1 0000000000000000 100 0 0 10 0
`
	got := listeningPorts(strings.NewReader(table))
	if len(got) != 2 || !got[5173] || !got[80] || got[8080] || got[53] {
		t.Errorf("listening ports %v, want 5173 and 80 (8080 is an established connection, 53 on 127.0.0.53)", got)
	}
	table6 := `  sl  local_address                         remote_address                        st
   0: 00000000000000000000000001000000:1435 00000000000000000000000000000000:0000 0A 00000000:00000000
   1: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000
   2: B80D0120000000000000000001000000:0051 00000000000000000000000000000000:0000 0A 00000000:00000000
`
	if got := listeningPorts(strings.NewReader(table6)); len(got) != 2 || !got[5173] || !got[80] {
		t.Errorf("IPv6 listening ports %v, want 5173 (::1) and 80 (::), not 81 (2001:db8::1)", got)
	}
}
