package integration

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/console"
)

// screen collects what a terminal shows.
type screen struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func (s *screen) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(s.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("terminal never showed %q; it shows:\n%s", want, s.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// onTerminal starts cmd on a new pseudo-terminal of the given size, as a
// session leader whose controlling terminal it is (like a program started
// from a shell, so it gets SIGWINCH), and collects what the terminal shows.
func onTerminal(t *testing.T, cmd *exec.Cmd, size console.WinSize) (console.Console, *screen) {
	t.Helper()
	master, slavePath, err := console.NewPty()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close() })
	if err := master.Resize(size); err != nil {
		t.Fatal(err)
	}
	slave, err := os.OpenFile(slavePath, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr.Setsid, cmd.SysProcAttr.Setctty, cmd.SysProcAttr.Ctty = true, true, 0
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killAtEnd(t, cmd)
	slave.Close()
	scr := &screen{}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			scr.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	return master, scr
}

// TestTTYInteractive runs claudebox on a terminal of the test's own, as a
// user's shell would: the sandbox's pty starts at the terminal's size,
// follows a resize, and ^C typed on the terminal interrupts the command.
func TestTTYInteractive(t *testing.T) {
	needSuite(t)
	proj := newProject(t, testUser)
	cmd := invocation{as: testUser, dir: proj}.command("run", "-q", "--", "sh", "-c", `
		trap 'echo "size $(stty size)"' WINCH
		trap 'echo got-interrupt; exit 9' INT
		echo "start $(stty size)"
		while :; do sleep 0.05; done`)
	master, scr := onTerminal(t, cmd, console.WinSize{Height: 40, Width: 100})

	scr.waitFor(t, "start 40 100")
	if err := master.Resize(console.WinSize{Height: 50, Width: 120}); err != nil {
		t.Fatal(err)
	}
	scr.waitFor(t, "size 50 120")
	if _, err := master.Write([]byte{3}); err != nil { // ^C
		t.Fatal(err)
	}
	scr.waitFor(t, "got-interrupt")
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 9 {
		t.Errorf("want exit 9 after ^C, got %v\n%s", err, scr.String())
	}
	assertNothingLeft(t, testUser)
}
