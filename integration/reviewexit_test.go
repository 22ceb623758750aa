package integration

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The review at a session's end begins as soon as the launcher's wait on
// the sandbox's pid 1 returns, while the container is taken down: the
// kernel ends every other process of a pid namespace, nested namespaces'
// included, before its init's exit completes. Processes made to outlive
// the command (a detached one ignoring the hang-up, one in a nested pid
// namespace, a stopped one) plant hooks a second later: none of them
// gets to write the project after the review. The control: the same
// processes, waited for by the command, plant the same hooks, and the
// review holds them.

// survivorHooks are the hooks `git commit` runs (in the nested
// repository sub), each planted by one kind
// of process that tries to outlive the command.
var survivorHooks = map[string]string{
	"detached": "pre-commit",         // setsid, HUP/TERM/INT ignored
	"nested":   "prepare-commit-msg", // pid 1 of a nested user and pid namespace
	"stopped":  "post-commit",        // SIGSTOPped, continued by a sibling
}

// survivorScript starts the processes, each of which, after delay,
// writes its hook (touching outside/ran-KIND when run) and a file
// late-KIND in the project; it waits until all have started, then, with
// wait, until all have planted.
func survivorScript(outside, delay string, wait bool) string {
	var b strings.Builder
	b.WriteString("set -e\nmkdir -p sub/.git/hooks\n")
	for _, kind := range []string{"detached", "nested", "stopped"} {
		hook := survivorHooks[kind]
		plant := fmt.Sprintf(`sleep %s; printf "#!/bin/sh\ntouch %s/ran-%s\n" > sub/.git/hooks/%s; chmod +x sub/.git/hooks/%s; touch late-%s`,
			delay, outside, kind, hook, hook, kind)
		switch kind {
		case "detached":
			fmt.Fprintf(&b, "setsid sh -c 'trap \"\" HUP TERM INT; touch started-%s; %s' </dev/null >/dev/null 2>&1 &\n", kind, plant)
		case "nested":
			fmt.Fprintf(&b, "unshare -r -p -f sh -c 'touch started-%s; %s' &\n", kind, plant)
		case "stopped":
			fmt.Fprintf(&b, "sh -c 'touch started-%s; kill -STOP $$; %s' &\nstopped=$!\n", kind, plant)
			b.WriteString("(while [ ! -e started-stopped ]; do sleep 0.05; done; sleep 0.3; kill -CONT $stopped) &\n")
		}
	}
	b.WriteString("while [ ! -e started-detached ] || [ ! -e started-nested ] || [ ! -e started-stopped ]; do sleep 0.05; done\n")
	if wait {
		b.WriteString("while [ ! -e late-detached ] || [ ! -e late-nested ] || [ ! -e late-stopped ]; do sleep 0.05; done\n")
	}
	b.WriteString("echo command-done\n")
	return b.String()
}

// survivorProject is a project with a nested repository, sub, made on
// the host: the hooks are planted in it (the project's own .git/hooks is
// read-only inside).
func survivorProject(t *testing.T) string {
	t.Helper()
	proj := reviewProject(t)
	hostTool(t, proj, true, "git", "init", "-q", "sub")
	return proj
}

func TestReviewNoWriteAfterCommandEnds(t *testing.T) {
	needSuite(t)
	resetClaudeState(t)

	// Control: waited for, each process plants its hook, which is held.
	proj := survivorProject(t)
	outside := outsideDir(t, testUser)
	in := invocation{as: testUser, dir: proj}
	r := in.run(t, "run", "-q", "--network", "none", "--", "sh", "-c", survivorScript(outside, "0.5", true))
	mustExit(t, r, 0)
	mustContain(t, r, "command-done", "held for your review")
	for kind, hook := range survivorHooks {
		if !exists(filepath.Join(proj, "late-"+kind)) {
			t.Errorf("control: the %s process did not plant: the test plants nothing with it", kind)
		}
		mustContain(t, r, proj+"/sub/.git/hooks/"+hook)
	}
	hostTool(t, filepath.Join(proj, "sub"), true, "git", "-c", "user.name=u", "-c", "user.email=u@e", "commit", "-q", "--allow-empty", "-m", "control")
	for kind := range survivorHooks {
		if exists(filepath.Join(outside, "ran-"+kind)) {
			t.Errorf("control: the host's git commit ran the hook the %s process planted", kind)
		}
	}

	// The attack: the command ends as soon as they have started; they
	// plant a second later, after the review began, unless gone.
	proj = survivorProject(t)
	outside = outsideDir(t, testUser)
	in = invocation{as: testUser, dir: proj}
	r = in.run(t, "run", "-q", "--network", "none", "--", "sh", "-c", survivorScript(outside, "1", false))
	mustExit(t, r, 0)
	mustContain(t, r, "command-done")
	for kind := range survivorHooks {
		if !exists(filepath.Join(proj, "started-"+kind)) {
			t.Fatalf("the %s process did not start: the attack tried nothing", kind)
		}
	}
	time.Sleep(2 * time.Second) // past the plant, were any of them alive
	for kind, hook := range survivorHooks {
		if exists(filepath.Join(proj, "late-"+kind)) || exists(filepath.Join(proj, "sub/.git/hooks", hook)) {
			t.Errorf("the %s process outlived the sandbox's pid 1 and wrote the project after the review began", kind)
		}
	}
	hostTool(t, filepath.Join(proj, "sub"), true, "git", "-c", "user.name=u", "-c", "user.email=u@e", "commit", "-q", "--allow-empty", "-m", "after")
	for kind := range survivorHooks {
		if exists(filepath.Join(outside, "ran-"+kind)) {
			t.Errorf("the host's git commit ran the hook the %s process planted after the review", kind)
		}
	}
}

// stallingAgent is the user's ssh-agent, slow to answer (a key that asks
// for confirmation, a PIN prompt): it answers the launcher's check, then
// leaves every request unanswered until released.
type stallingAgent struct {
	sock     string
	ln       net.Listener
	stalled  chan struct{} // closed once a request waits
	once     sync.Once
	mu       sync.Mutex
	answered bool
	conns    []net.Conn
}

func newStallingAgent(t *testing.T) *stallingAgent {
	t.Helper()
	a := &stallingAgent{sock: filepath.Join(outsideDir(t, testUser), "agent.sock"), stalled: make(chan struct{})}
	var err error
	if a.ln, err = net.Listen("unix", a.sock); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(a.sock, testUser.uid, testUser.gid); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.release)
	go func() {
		for {
			c, err := a.ln.Accept()
			if err != nil {
				return
			}
			a.mu.Lock()
			a.conns = append(a.conns, c)
			a.mu.Unlock()
			go a.serve(c)
		}
	}()
	return a
}

func (a *stallingAgent) serve(c net.Conn) {
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n == 0 || n > 1<<16 {
			return
		}
		if _, err := io.ReadFull(c, make([]byte, n)); err != nil {
			return
		}
		a.mu.Lock()
		first := !a.answered
		a.answered = true
		a.mu.Unlock()
		if !first {
			a.once.Do(func() { close(a.stalled) })
			return // unanswered, the connection kept open
		}
		_, _ = c.Write([]byte{0, 0, 0, 5, 12, 0, 0, 0, 0}) // no identities
	}
}

// release ends every connection: the waiting request fails.
func (a *stallingAgent) release() {
	a.ln.Close()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.conns {
		c.Close()
	}
	a.conns = nil
}

// A user's ssh-agent slow to answer (a key that asks for a touch) does
// not hold a session's end: the sandbox's command asks it for its keys
// and ends, and the launcher, taking the agent proxy down, ends with it
// rather than for the agent's two minutes. (Two sessions whose ends
// overlap, which a held launcher made likely, are state's
// TestReviewWhenSessionsEndTogether.)
func TestStalledAgentDoesNotHoldTheEnd(t *testing.T) {
	needSuite(t)
	resetClaudeState(t)
	proj := survivorProject(t)
	outside := outsideDir(t, testUser)
	hk := filepath.Join(outside, "hk")
	asUser(t, nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hk)
	hpub, _ := os.ReadFile(hk + ".pub")
	khPath := filepath.Join(testUser.home, ".ssh/known_hosts")
	if err := writeOwned(testUser, khPath, "git.test "+strings.Join(strings.Fields(string(hpub))[:2], " ")+"\n"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(khPath) })
	agent := newStallingAgent(t)
	defer agent.release()

	in := invocation{as: testUser, dir: proj, env: []string{"SSH_AUTH_SOCK=" + agent.sock}}
	a := in.command("run", "-q", "--network", "none", "--ssh-agent", "git.test", "--", "python3", "-c",
		`import os, socket; s = socket.socket(socket.AF_UNIX); s.connect(os.environ["SSH_AUTH_SOCK"]); s.sendall(b"\0\0\0\1\x0b"); print("a-asked")`)
	var aOut bytes.Buffer
	a.Stdout, a.Stderr = &aOut, &aOut
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	killAtEnd(t, a)
	select {
	case <-agent.stalled: // the control: the request reached the agent, which holds it
	case <-time.After(30 * time.Second):
		t.Fatalf("the session did not ask the agent: %s", aOut.String())
	}
	ended := make(chan error, 1)
	go func() { ended <- a.Wait() }()
	select {
	case err := <-ended:
		if err != nil || !strings.Contains(aOut.String(), "a-asked") {
			t.Fatalf("the session: %v\n%s", err, aOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the session's end waits for the user's agent\n%s", aOut.String())
	}
}

// sandboxInit is the host pid of the sandbox's pid 1: the launcher's
// child that is pid 1 of its own pid namespace.
func sandboxInit(t *testing.T, launcher int) int {
	t.Helper()
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", launcher))
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, p := range strings.Fields(string(b)) {
			st, _ := os.ReadFile("/proc/" + p + "/status")
			for _, line := range strings.Split(string(st), "\n") {
				if f := strings.Fields(line); len(f) > 2 && f[0] == "NSpid:" && f[len(f)-1] == "1" {
					var pid int
					fmt.Sscan(p, &pid)
					return pid
				}
			}
		}
	}
	t.Fatal("no child of the launcher is pid 1 of a pid namespace")
	return 0
}

// However the sandbox ends (the launcher's SIGTERM passed on, its pid 1
// killed from the host), its review runs: what it planted is held.
func TestReviewOnEveryEnd(t *testing.T) {
	needSuite(t)
	for _, c := range []struct {
		name string
		end  func(t *testing.T, launcher *exec.Cmd)
		exit int
	}{
		{"launcher SIGTERM", func(t *testing.T, l *exec.Cmd) { l.Process.Signal(syscall.SIGTERM) }, 128 + int(syscall.SIGTERM)},
		{"pid 1 SIGKILL", func(t *testing.T, l *exec.Cmd) { syscall.Kill(sandboxInit(t, l.Process.Pid), syscall.SIGKILL) }, 128 + int(syscall.SIGKILL)},
	} {
		t.Run(c.name, func(t *testing.T) {
			resetClaudeState(t)
			proj := reviewProject(t)
			marker := filepath.Join(outsideDir(t, testUser), "fsmonitor-ran")
			in := invocation{as: testUser, dir: proj}
			cmd := in.command("run", "-q", "--", "sh", "-c", plantNestedRepo(marker)+"\n touch ready; sleep 60")
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			killAtEnd(t, cmd)
			waitFor(t, "the plant", func() bool { return exists(filepath.Join(proj, "ready")) })
			c.end(t, cmd)
			_ = cmd.Wait()
			if got := cmd.ProcessState.ExitCode(); got != c.exit {
				t.Errorf("exit %d, want %d\n%s", got, c.exit, out.String())
			}
			if !strings.Contains(out.String(), "held for your review") || !strings.Contains(out.String(), proj+"/sub/.git/config") {
				t.Fatalf("the planted config is not held:\n%s", out.String())
			}
			hostTool(t, proj, true, "git", "status")
			if exists(marker) {
				t.Fatal("the host's git status ran the fsmonitor the session planted")
			}
		})
	}
}
