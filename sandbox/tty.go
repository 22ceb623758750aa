package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/utils"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// stdio connects the sandboxed command to the launcher's standard streams.
// With Spec.TTY the command gets a pseudo-terminal of the sandbox's own (a
// console socket). Otherwise files and pipes are passed as they are, but a
// host terminal never enters the sandbox: such a stream is relayed through a
// pipe. With the host tty inside, TIOCSTI could push keystrokes into the
// user's shell and termios calls could change the user's terminal.
type stdio struct {
	c       Config
	sock    *os.File // parent end of the console socket; nil without a tty
	child   *os.File
	master  *os.File
	restore *term.State
	output  chan struct{} // closed when the output is drained

	parentEnds []*os.File     // the launcher's copies of the sandbox's pipe ends
	relays     sync.WaitGroup // output relays still copying
}

func setupIO(p *libcontainer.Process, c Config) (*stdio, error) {
	s := &stdio{c: c}
	if !c.Spec.TTY {
		var err error
		if p.Stdin, err = s.relayIn(c.Stdin); err != nil {
			return nil, err
		}
		if p.Stdout, err = s.relayOut(c.Stdout); err != nil {
			return nil, err
		}
		if p.Stderr, err = s.relayOut(c.Stderr); err != nil {
			return nil, err
		}
		return s, nil
	}
	parent, child, err := utils.NewSockPair("console")
	if err != nil {
		return nil, err
	}
	s.sock, s.child = parent, child
	p.ConsoleSocket = child
	if w, h, err := term.GetSize(int(c.Stdin.Fd())); err == nil {
		p.ConsoleWidth, p.ConsoleHeight = uint16(w), uint16(h)
	}
	return s, nil
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// relayIn returns what the sandbox gets as stdin for host: host itself, or
// a pipe fed from it when it is a terminal. The copy is not waited for: it
// ends with the launcher.
func (s *stdio) relayIn(host *os.File) (*os.File, error) {
	if !isTerminal(host) {
		return host, nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	s.parentEnds = append(s.parentEnds, r)
	go func() {
		_, _ = io.Copy(w, host)
		w.Close()
	}()
	return r, nil
}

// relayOut is relayIn for an output stream; drain waits for its copy.
func (s *stdio) relayOut(host *os.File) (*os.File, error) {
	if !isTerminal(host) {
		return host, nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	s.parentEnds = append(s.parentEnds, w)
	s.relays.Add(1)
	go func() {
		defer s.relays.Done()
		_, _ = io.Copy(host, r)
		r.Close()
	}()
	return w, nil
}

// attach finishes the set-up once the container started: it drops the
// launcher's copies of the sandbox's pipe ends, and for a tty receives the
// sandbox's pty master, puts the host terminal in raw mode and starts
// copying.
func (s *stdio) attach() error {
	for _, f := range s.parentEnds {
		f.Close()
	}
	s.parentEnds = nil
	if s.sock == nil {
		s.output = make(chan struct{})
		go func() {
			s.relays.Wait()
			close(s.output)
		}()
		return nil
	}
	s.child.Close()
	master, err := recvFile(s.sock)
	if err != nil {
		return fmt.Errorf("receiving the console: %w", err)
	}
	s.master = master
	if s.restore, err = term.MakeRaw(int(s.c.Stdin.Fd())); err != nil {
		return fmt.Errorf("raw mode: %w", err)
	}
	s.resize()
	s.output = make(chan struct{})
	go func() {
		_, _ = io.Copy(master, s.c.Stdin)
	}()
	go func() {
		// Ends with EIO once every process holding the pty is gone.
		_, _ = io.Copy(s.c.Stdout, master)
		close(s.output)
	}()
	return nil
}

// resize gives the sandbox's pty the host terminal's size.
func (s *stdio) resize() {
	if s.master == nil {
		return
	}
	ws, err := unix.IoctlGetWinsize(int(s.c.Stdin.Fd()), unix.TIOCGWINSZ)
	if err == nil {
		_ = unix.IoctlSetWinsize(int(s.master.Fd()), unix.TIOCSWINSZ, ws)
	}
}

// drain waits (briefly) for the last output of the sandbox.
func (s *stdio) drain() {
	if s.output == nil {
		return
	}
	select {
	case <-s.output:
	case <-time.After(2 * time.Second):
	}
}

// close restores the host terminal and closes the console. It runs on every
// exit path of Run.
func (s *stdio) close() {
	if s.restore != nil {
		_ = term.Restore(int(s.c.Stdin.Fd()), s.restore)
	}
	for _, f := range append([]*os.File{s.master, s.sock, s.child}, s.parentEnds...) {
		if f != nil {
			f.Close()
		}
	}
}

// recvFile receives one file descriptor sent with SCM_RIGHTS.
func recvFile(sock *os.File) (*os.File, error) {
	name := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), name, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, err
	}
	if len(msgs) != 1 {
		return nil, errors.New("expected one control message")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil {
		return nil, err
	}
	if len(fds) != 1 {
		return nil, errors.New("expected one file descriptor")
	}
	return os.NewFile(uintptr(fds[0]), string(name[:n])), nil
}
