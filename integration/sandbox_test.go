package integration

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestSecretsHidden(t *testing.T) {
	needSuite(t)
	resetClaudeState(t) // no host ~/.claude.json to seed the instance with
	proj := newProject(t, testUser)
	r := invocation{as: testUser, dir: proj}.run(t, "run", "-q", "--", "sh", "-c", `
		cat ~/.ssh/id_ed25519 ~/.aws/credentials ~/.config/gh/hosts.yml
		echo "home: $(ls -A ~ | tr '\n' ' ')"
		ls /run/user/ 2>&1; ls -A /root 2>&1
		echo done`)
	mustExit(t, r, 0)
	mustContain(t, r, "done", "No such file or directory")
	mustNotContain(t, r, secretSSH, secretAWS, secretGH, bashrcMarker)
	// Home shows the project's Claude state, the tools on PATH
	// (~/.local/bin) and the project, nothing else.
	if !strings.Contains(r.stdout, "home: .claude .local "+filepath.Base(proj)+" \n") {
		t.Errorf("home should show only .claude, .local and the project %s:\n%s", filepath.Base(proj), r)
	}
	assertNothingLeft(t, testUser)
}

// TestSecretFloor: even a project that is the whole home keeps the
// well-known secret paths hidden.
func TestSecretFloor(t *testing.T) {
	needSuite(t)
	r := invocation{as: testUser, dir: testUser.home}.run(t, "run", "--project", testUser.home, "--", "sh", "-c", `
		cat ~/.ssh/id_ed25519 ~/.aws/credentials ~/.config/gh/hosts.yml; cat ~/.bashrc`)
	mustContain(t, r, bashrcMarker)
	mustNotContain(t, r, secretSSH, secretAWS, secretGH)
}

func TestEnvClean(t *testing.T) {
	needSuite(t)
	proj := newProject(t, testUser)
	in := invocation{as: testUser, dir: proj, env: []string{"ANTHROPIC_API_KEY=sk-ant-test", "LC_TIME=C", "EXTRA=value"}}
	r := in.run(t, "run", "--", "env")
	mustExit(t, r, 0)
	mustNotContain(t, r, githubToken, awsSecret, "SSH_AUTH_SOCK", "EXTRA=")
	mustContain(t, r, "HOME="+testUser.home+"\n", "USER=cbtest", "ANTHROPIC_API_KEY=sk-ant-test", "LC_TIME=C", "CLAUDEBOX=1")

	r = in.run(t, "run", "--env", "GITHUB_TOKEN", "--env", "FOO=bar=baz", "--env", "UNSET_ON_HOST", "--", "env")
	mustExit(t, r, 0)
	mustContain(t, r, "GITHUB_TOKEN="+githubToken, "FOO=bar=baz")
	mustNotContain(t, r, "UNSET_ON_HOST", awsSecret)
}

func TestHostReadOnly(t *testing.T) {
	needSuite(t)
	proj := newProject(t, testUser)
	r := invocation{as: testUser, dir: proj}.run(t, "run", "-q", "--", "sh", "-c", `
		for p in /usr/claudebox-x /etc/claudebox-x /var/claudebox-x; do
			touch $p 2>/dev/null && echo "WROTE $p"
		done
		echo pwned >> ~/.bashrc
		echo ok`)
	mustExit(t, r, 0)
	mustNotContain(t, r, "WROTE")
	b, err := os.ReadFile(filepath.Join(testUser.home, ".bashrc"))
	if err != nil || string(b) != bashrcMarker+"\n" {
		t.Errorf("host ~/.bashrc changed: %q, %v", b, err)
	}
	for _, p := range []string{"/usr/claudebox-x", "/etc/claudebox-x", "/var/claudebox-x"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s was created on the host", p)
			os.Remove(p)
		}
	}
}

func TestProjectWritableAndOwned(t *testing.T) {
	needSuite(t)
	proj := newProject(t, testUser)
	sub := filepath.Join(proj, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chown(sub, testUser.uid, testUser.gid)
	r := invocation{as: testUser, dir: sub}.run(t, "run", "--", "sh", "-c", `
		echo "id=$(id -u):$(id -g) whoami=$(id -un) pwd=$(pwd)"
		echo data > made.txt && mkdir made-dir`)
	mustExit(t, r, 0)
	want := "id=" + strconv.Itoa(testUser.uid) + ":" + strconv.Itoa(testUser.gid) + " whoami=cbtest pwd=" + sub
	mustContain(t, r, want)
	for _, p := range []string{filepath.Join(sub, "made.txt"), filepath.Join(sub, "made-dir")} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s not on the host: %v", p, err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if int(st.Uid) != testUser.uid || int(st.Gid) != testUser.gid {
			t.Errorf("%s owned by %d:%d on the host, want %d:%d", p, st.Uid, st.Gid, testUser.uid, testUser.gid)
		}
	}
}

func TestProcessPolicy(t *testing.T) {
	needSuite(t)
	proj := newProject(t, testUser)
	r := invocation{as: testUser, dir: proj}.run(t, "run", "-q", "--", "sh", "-c", `
		grep -E '^(CapEff|CapPrm|NoNewPrivs)' /proc/self/status
		hostname; echo "pid1=$(cat /proc/1/comm)"; echo "procs=$(ls /proc | grep -c '^[0-9]')"
		echo x > /proc/sys/kernel/hostname 2>/dev/null && echo WROTE-PROC-SYS
		touch /sys/claudebox 2>/dev/null && echo WROTE-SYS
		echo ok`)
	mustExit(t, r, 0)
	mustContain(t, r, "CapEff:\t0000000000000000", "CapPrm:\t0000000000000000", "NoNewPrivs:\t1", "claudebox\n", "pid1=claudebox", "ok")
	mustNotContain(t, r, "WROTE")
}

func TestExitStatus(t *testing.T) {
	needSuite(t)
	proj := newProject(t, testUser)
	in := invocation{as: testUser, dir: proj}
	for _, c := range []struct {
		script string
		want   int
	}{
		{"exit 0", 0},
		{"exit 7", 7},
		{"kill -TERM $$", 128 + 15},
		{"kill -KILL $$", 128 + 9},
	} {
		mustExit(t, in.run(t, "run", "--", "sh", "-c", c.script), c.want)
	}
	r := in.run(t, "run", "--", "no-such-command-xyz")
	mustExit(t, r, 127)
	mustContain(t, r, "no-such-command-xyz")
	mustExit(t, in.run(t, "run", "--", "/etc/hostname"), 126)
	assertNothingLeft(t, testUser)
}

// TestSignalForwarding: a signal to the launcher reaches the command.
func TestSignalForwarding(t *testing.T) {
	needSuite(t)
	proj := newProject(t, testUser)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := invocation{as: testUser, dir: proj}.command("run", "--", "sh", "-c",
				`trap 'echo got-signal; exit 42' TERM INT HUP; echo ready; while :; do sleep 0.05; done`)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := bufio.NewScanner(out)
			if !lines.Scan() || lines.Text() != "ready" {
				t.Fatalf("no ready line: %q", lines.Text())
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			var rest []string
			for lines.Scan() {
				rest = append(rest, lines.Text())
			}
			_ = cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); code != 42 || !strings.Contains(strings.Join(rest, "\n"), "got-signal") {
				t.Errorf("want the command to trap %v and exit 42; got exit %d, output %q", sig, code, rest)
			}
			assertNothingLeft(t, testUser)
		})
	}
}

// TestLauncherKilled: a sandbox does not outlive a launcher killed with
// SIGKILL.
func TestLauncherKilled(t *testing.T) {
	needSuite(t)
	proj := newProject(t, testUser)
	marker := "sleep 1000." + strconv.Itoa(os.Getpid()) // unique on this host
	cmd := invocation{as: testUser, dir: proj}.command("run", "--", "sh", "-c", "echo ready; exec "+marker)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if !bufio.NewScanner(out).Scan() {
		t.Fatal("no ready line")
	}
	if !processExists(marker) {
		t.Fatal("the sandboxed process is not visible from the host; the check below would prove nothing")
	}
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for processExists(marker) {
		if time.Now().After(deadline) {
			exec.Command("pkill", "-KILL", "-f", marker).Run()
			t.Fatal("the sandbox outlived its killed launcher")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The killed launcher could not clean up; the next launch does.
	if len(launchState(t, testUser)) == 0 {
		t.Fatal("a SIGKILLed launcher left no state: the sweep below is not exercised")
	}
	mustExit(t, invocation{as: testUser, dir: proj}.run(t, "run", "--", "true"), 0)
	assertNothingLeft(t, testUser)
}

func processExists(cmdline string) bool {
	return exec.Command("pgrep", "-f", cmdline).Run() == nil
}

// TestTTY: with a terminal on stdin the command gets a pty of its own, and
// the host terminal is restored afterwards.
func TestTTY(t *testing.T) {
	needSuite(t)
	proj := newProject(t, testUser)
	s := underScript(t, invocation{as: testUser, dir: proj},
		binPath+` run -q -- sh -c 'test -t 0 && test -t 1 && echo "IS-TTY $(tty)"; stty size'; stty -a`)
	if !strings.Contains(s, "IS-TTY /dev/pts/0") {
		t.Errorf("the command has no pty of its own:\n%s", s)
	}
	// After claudebox exits the terminal is cooked again.
	if !strings.Contains(s, " icanon ") || !strings.Contains(s, " echo ") {
		t.Errorf("terminal not restored (want icanon and echo):\n%s", s)
	}
}

// TestNoHostTerminalInside: when only some streams are terminals there is
// no pty, and the terminal ones are relayed through pipes: no fd of the host
// terminal enters the sandbox.
func TestNoHostTerminalInside(t *testing.T) {
	needSuite(t)
	proj := newProject(t, testUser)
	probe := `for f in 0 1 2; do if test -t $f; then echo "fd$f=tty"; else echo "fd$f=$(readlink /proc/$$/fd/$f | cut -d: -f1)"; fi; done`
	for _, c := range []struct{ name, redirect, want string }{
		{"stdout to a file", "> out.txt; cat out.txt", "fd0=pipe fd1=" + filepath.Join(proj, "out.txt") + " fd2=pipe"},
		{"stdin from a file", "< /dev/null", "fd0=/dev/null fd1=pipe fd2=pipe"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := underScript(t, invocation{as: testUser, dir: proj}, binPath+" run -q -- sh -c '"+probe+"' "+c.redirect)
			if got := normalize(out); got != c.want {
				t.Errorf("inside: %q, want %q", got, c.want)
			}
		})
	}
}

func TestDefaultCommandIsClaude(t *testing.T) {
	needSuite(t)
	proj := newProject(t, testUser)
	r := invocation{as: testUser, dir: proj}.run(t, "--", "--version", "-p", "hi")
	mustExit(t, r, 0)
	mustContain(t, r, "stub-claude uid="+strconv.Itoa(testUser.uid), "pwd="+proj, "args=--version -p hi")

	// Without claude on PATH the error says so and names the way out.
	r = invocation{as: testUser, dir: proj, env: []string{"PATH=/usr/bin:/bin"}}.run(t)
	mustExit(t, r, 125)
	mustContain(t, r, "claude", "claudebox run -- CMD")
}

// TestExportBundleWithRunc: plain runc on the exported bundle gives the same
// sandbox as a launch.
func TestExportBundleWithRunc(t *testing.T) {
	needSuite(t)
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("requires runc")
	}
	proj := newProject(t, testUser)
	gitAs(t, testUser, proj, "init", "-q") // protected paths and pins in the bundle too
	script := `echo "id=$(id -u):$(id -g) pwd=$(pwd) host=$(hostname)"
		(mv .git .git.old 2>/dev/null && echo git-renamed) || echo git-pinned
		(echo x > .git/hooks/pre-commit) 2>/dev/null || echo hooks-read-only
		cat ~/.ssh/id_ed25519 2>&1; echo "token=${GITHUB_TOKEN:-none}"
		touch /usr/x 2>&1; echo from-sandbox > out.txt; echo "home: $(ls -A ~)"
		grep -E "^(Seccomp|NoNewPrivs|CapEff):" /proc/self/status`
	in := invocation{as: testUser, dir: proj}
	want := in.run(t, "run", "-q", "--", "sh", "-c", script)
	mustExit(t, want, 0)
	mustContain(t, want, "git-pinned", "hooks-read-only")

	dir := filepath.Join(outsideDir(t, testUser), "bundle")
	r := in.run(t, "export-bundle", dir, "--", "sh", "-c", script)
	mustExit(t, r, 0)
	mustContain(t, r, "runc --root", "run -b "+dir)
	os.Remove(filepath.Join(proj, "out.txt"))

	// Not empty any more: refused, then replaced with --force.
	mustExit(t, in.run(t, "export-bundle", dir), 125)
	mustExit(t, in.run(t, "export-bundle", "--force", dir, "--", "sh", "-c", script), 0)

	cmd := in.command()
	cmd.Path = runc
	cmd.Args = []string{"runc", "--root", filepath.Join(proj, "runc-state"), "run", "-b", dir, "cb-export-test"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("runc run: %v\n%s", err, out)
	}
	if normalize(string(out)) != normalize(want.stdout+want.stderr) {
		t.Errorf("runc run differs from claudebox run\nrunc:\n%s\nclaudebox:\n%s", out, want)
	}
	fi, err := os.Stat(filepath.Join(proj, "out.txt"))
	if err != nil {
		t.Fatalf("runc sandbox did not write the project: %v", err)
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != testUser.uid {
		t.Errorf("file written under runc owned by %d, want %d", st.Uid, testUser.uid)
	}
}

func normalize(s string) string {
	return strings.TrimSpace(strings.Join(strings.Fields(s), " "))
}

// TestNoHostMountsLeft: launches add no mounts to the host.
func TestNoHostMountsLeft(t *testing.T) {
	needSuite(t)
	before, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	proj := newProject(t, testUser)
	invocation{as: testUser, dir: proj}.run(t, "run", "--", "true")
	invocation{dir: newProject(t, nil)}.run(t, "run", "--", "true")
	after, _ := os.ReadFile("/proc/self/mountinfo")
	if len(strings.Split(string(before), "\n")) != len(strings.Split(string(after), "\n")) {
		t.Errorf("host mount table changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	assertNothingLeft(t, testUser)
	assertNothingLeft(t, nil)
}

// TestAsRoot: the smaller set, run by root.
func TestAsRoot(t *testing.T) {
	needSuite(t)
	proj := newProject(t, nil)
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(home, ".ssh/id_ed25519"), []byte(secretSSH), 0o600)
	in := invocation{dir: proj, env: []string{"HOME=" + home}}
	r := in.run(t, "run", "--", "sh", "-c", `
		cat ~/.ssh/id_ed25519 2>&1; env; touch /usr/x 2>&1
		echo root-was-here > f.txt; grep CapEff /proc/self/status; echo "id=$(id -u)"`)
	mustExit(t, r, 0)
	mustNotContain(t, r, secretSSH, githubToken, awsSecret)
	mustContain(t, r, "Read-only file system", "CapEff:\t0000000000000000", "id=0")
	if b, err := os.ReadFile(filepath.Join(proj, "f.txt")); err != nil || string(b) != "root-was-here\n" {
		t.Errorf("project not written: %q %v", b, err)
	}
	mustExit(t, in.run(t, "run", "--", "sh", "-c", "exit 3"), 3)
	assertNothingLeft(t, nil)
}

// TestExtraMounts: --ro, --rw and --hide, relative paths included.
func TestExtraMounts(t *testing.T) {
	needSuite(t)
	proj := newProject(t, testUser)
	data := filepath.Join(testUser.home, "it-data")
	out := filepath.Join(testUser.home, "it-out")
	for _, f := range []string{filepath.Join(data, "table.csv"), filepath.Join(out, ".keep"), filepath.Join(proj, ".env"), filepath.Join(proj, "private/key")} {
		if err := writeOwned(testUser, f, "content-of-"+filepath.Base(f)); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { os.RemoveAll(data); os.RemoveAll(out) })

	r := invocation{as: testUser, dir: proj}.run(t, "run", "-q", "--ro", data, "--rw", "../it-out", "--hide", ".env", "--hide", "private", "--", "sh", "-c", `
		cat ~/it-data/table.csv; echo
		touch ~/it-data/new 2>/dev/null && echo WROTE-RO
		echo written > ~/it-out/result && echo rw-ok
		echo "env=[$(cat .env)] private=[$(ls -A private)]"
		echo leak > .env 2>/dev/null; touch private/new 2>/dev/null && echo WROTE-HIDDEN
		echo done`)
	mustExit(t, r, 0)
	mustContain(t, r, "content-of-table.csv", "rw-ok", "env=[] private=[]", "done")
	mustNotContain(t, r, "WROTE", "content-of-.env", "content-of-key")
	if b, _ := os.ReadFile(filepath.Join(out, "result")); string(b) != "written\n" {
		t.Errorf("--rw write did not reach the host: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(proj, ".env")); string(b) != "content-of-.env" {
		t.Errorf("hidden .env changed on the host: %q", b)
	}
}
