package pid1

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary serve as a probe run by pid1:
// PID1_TEST_DIAL=ADDR connects to a unix socket and says how it went.
func TestMain(m *testing.M) {
	if addr := os.Getenv("PID1_TEST_DIAL"); addr != "" {
		c, err := net.Dial("unix", addr)
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		c.Close()
		fmt.Println("connected")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// pid1 runs this test binary as `pid1 ARGS...`: its constructor is the
// real pid1, as in the sandbox. The ids are the test's own, so no nested
// user namespace is made; the launch tests cover that.
func pid1(args ...string) *exec.Cmd {
	ids := []string{fmt.Sprintf("--uid=%d", os.Getuid()), fmt.Sprintf("--gid=%d", os.Getgid())}
	cmd := exec.Command(os.Args[0], append([]string{"pid1"}, append(ids, args...)...)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	return cmd
}

func status(t *testing.T, cmd *exec.Cmd) (int, string) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"--uid=1", "--gid=1"},
		{"--uid=1", "--gid=1", "--"},
		{"--gid=1", "--", "true"},
		{"--uid=x", "--gid=1", "--", "true"},
		{"--uid=-1", "--gid=1", "--", "true"},
		{"--uid=1", "--gid=1", "--bogus", "--", "true"},
		{"--uid=1", "--gid=1", "--parent-fd=x", "--", "true"},
	} {
		code, out := status(t, exec.Command(os.Args[0], append([]string{"pid1"}, args...)...))
		if code != ExitUsage || !strings.HasPrefix(out, "claudebox pid1: ") {
			t.Errorf("pid1 %q: exit %d, %q; want %d and a message", args, code, out, ExitUsage)
		}
	}
}

func TestStatus(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "not-exec")
	badFormat := filepath.Join(dir, "bad-format")
	os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644)
	os.WriteFile(badFormat, []byte{0, 1, 2, 3}, 0o755)
	for _, c := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"--", "sh", "-c", "echo ran; exit 7"}, 7, "ran"},
		{[]string{"--", "sh", "-c", "kill -TERM $$"}, 128 + 15, ""},
		{[]string{"--", "sh", "-c", "exit 3", "--uid=5"}, 3, ""}, // the command's argument
		{[]string{"--", "no-such-command"}, ExitNotFound, "no-such-command: command not found in the sandbox"},
		{[]string{"--", notExec}, ExitNotFound, "command not found"},
		{[]string{"--", badFormat}, ExitCannotRun, "cannot run " + badFormat + ": Exec format error"},
		{[]string{"--seccomp=" + notExec, "--", "true"}, ExitUsage, "is not a seccomp program"},
		{[]string{"--seccomp=/nonexistent", "--", "true"}, ExitUsage, "loading the seccomp filter"},
	} {
		code, out := status(t, pid1(c.args...))
		if code != c.code || !strings.Contains(out, c.out) {
			t.Errorf("pid1 %q: exit %d, %q; want %d and %q", c.args, code, out, c.code, c.out)
		}
	}
}

// TestPathSearch: only absolute PATH entries are searched.
func TestPathSearch(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "here"), []byte("#!/bin/sh\nexit 0\n"), 0o755)
	cmd := pid1("--", "here")
	cmd.Dir, cmd.Env = dir, []string{"PATH=.:/usr/bin"}
	if code, out := status(t, cmd); code != ExitNotFound {
		t.Errorf("a relative PATH entry was searched: exit %d, %q", code, out)
	}
	cmd = pid1("--", "here")
	cmd.Env = []string{"PATH=/nonexistent:" + dir}
	if code, out := status(t, cmd); code != 0 {
		t.Errorf("exit %d, %q", code, out)
	}
}

// TestForwardsSignals: a signal to pid1 reaches the command's whole
// process group, and pid1 exits with the command's status. The shell's
// trap waits for its sleep, which ends early only if the signal reached
// the whole group.
func TestForwardsSignals(t *testing.T) {
	cmd := pid1("--", "sh", "-c", `sleep 30 & trap 'wait; exit 42' TERM; echo ready; wait`)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		t.Fatalf("got %q", line)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("pid1 did not pass SIGTERM on (or the group's sleep kept it)")
	}
	if code := cmd.ProcessState.ExitCode(); code != 42 {
		t.Errorf("exit %d, want 42", code)
	}
}

// TestLifeline: pid1 ends (SIGKILL's status) when the launcher's pipe
// closes, even while the command runs on.
func TestLifeline(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := pid1("--parent-fd=3", "--", "sleep", "30")
	cmd.ExtraFiles = []*os.File{r}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	r.Close()
	time.Sleep(100 * time.Millisecond)
	w.Write([]byte("x")) // data is not the end
	time.Sleep(100 * time.Millisecond)
	if cmd.ProcessState != nil {
		t.Fatal("pid1 exited while the launcher lives")
	}
	w.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("pid1 outlived its launcher's pipe")
	}
	if code := cmd.ProcessState.ExitCode(); code != 128+9 {
		t.Errorf("exit %d, want 137", code)
	}
}

// TestScope: with --scope, the command cannot connect to an abstract unix
// socket made outside the sandbox, nor signal a process outside; without
// it, it can (so the check can fail). pid1 runs with no_new_privs, as the
// runtime starts it.
func TestScope(t *testing.T) {
	addr := fmt.Sprintf("@claudebox-pid1-test-%d", os.Getpid())
	l, err := net.Listen("unix", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for _, c := range []struct {
		scope      bool
		dial, kill string
	}{
		{false, "connected", "0"},
		{true, "operation not permitted", "1"},
	} {
		args := []string{"--", "sh", "-c", os.Args[0] + "; kill -0 " + strconv.Itoa(os.Getpid()) + " 2>/dev/null; echo kill=$?"}
		if c.scope {
			args = append([]string{"--scope"}, args...)
		}
		cmd := pid1(args...)
		cmd.Args = append([]string{"setpriv", "--no-new-privs"}, cmd.Args...)
		cmd.Path, _ = exec.LookPath("setpriv")
		cmd.Env = append(cmd.Env, "PID1_TEST_DIAL="+addr)
		_, out := status(t, cmd)
		if !strings.Contains(out, c.dial) || !strings.Contains(out, "kill="+c.kill) {
			t.Errorf("scope=%v: %q, want %q and kill=%s", c.scope, out, c.dial, c.kill)
		}
	}
}
