package integration

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The escape suite: attacks actually tried from inside a sandbox, as the
// test user, each of which must be denied. A probe is a shell command that
// exits 0 only if the attack worked; some are judged on the host after
// the sandbox exits.
//
// Every probe is first run as the control: the same script, as the same
// user, in the same test world, with no sandbox at all. A probe that does
// not escape in the control would be denied whatever claudebox did, so it
// proves nothing: the test fails and names it. The syscall probes are
// also run in a sandbox with --seccomp=off, which shows that the filter is
// what refuses them. Every launch's exit status and a marker it prints are
// checked before its output is judged, and the tools README promises work
// inside (unshare -Urm, bwrap) are run inside.

type probeSpec struct {
	name, attack string
	// cmd runs inside (and uncontained, as the control); exit 0 means the
	// attack worked.
	cmd string
	// seccomp: the seccomp filter is what refuses it; it escapes from a
	// sandbox with --seccomp=off.
	seccomp bool
}

// escapeProbes run in one inet sandbox in the test world. MARK, HOSTPID
// and UID are replaced before the run. Network probes count an escape
// only when the target's own greeting came back ("hello from").
var escapeProbes = []probeSpec{
	// Secrets planted in the user's home and other Claude state.
	{"read ~/.ssh", "read the SSH private key", `grep -q SECRET ~/.ssh/id_ed25519`, false},
	{"read ~/.aws", "read AWS credentials", `grep -q SECRET ~/.aws/credentials`, false},
	{"read ~/.gnupg", "read a GnuPG private key", `grep -rq SECRET ~/.gnupg`, false},
	{"read ~/.kube/config", "read the kubeconfig", `grep -q SECRET ~/.kube/config`, false},
	{"read ~/.docker/config.json", "read registry credentials", `grep -q SECRET ~/.docker/config.json`, false},
	{"read ~/.netrc", "read .netrc", `grep -q SECRET ~/.netrc`, false},
	{"read ~/.git-credentials", "read git credentials", `grep -q SECRET ~/.git-credentials`, false},
	{"read ~/.config/gh", "read the GitHub CLI token", `grep -q SECRET ~/.config/gh/hosts.yml`, false},
	{"read another project's transcripts", "find another instance's history", `grep -rqs OTHER-TRANSCRIPT ~ /home`, false},
	{"read the host's ~/.claude/projects", "find the host's global history", `grep -rqs HOST-TRANSCRIPT ~ /home`, false},
	{"symlink to a secret", "read through a symlink planted in the project", `grep -q SECRET ./link-secret`, false},
	{"../ paths", "climb out of the project", `grep -qs SECRET "$PWD/../.ssh/id_ed25519" "$PWD/../../UID/.ssh/id_ed25519" /proc/1/root/home/*/.ssh/id_ed25519`, false},
	// Host sockets (mode 0666, as the system bus is; the user's own are
	// the user's).
	{"ssh-agent socket", "connect to /run/user/UID/ssh-agent.sock", `./testpeer probe s=unix:/run/user/UID/ssh-agent.sock | grep -q "hello from"`, false},
	{"D-Bus session bus", "connect to /run/user/UID/bus", `./testpeer probe s=unix:/run/user/UID/bus | grep -q "hello from"`, false},
	{"docker.sock", "connect to /run/docker.sock", `./testpeer probe s=unix:/run/docker.sock | grep -q "hello from"`, false},
	{"D-Bus system bus", "connect to /run/dbus/system_bus_socket", `./testpeer probe s=unix:/run/dbus/system_bus_socket | grep -q "hello from"`, false},
	{"host abstract socket", "connect to an abstract unix socket of the host", `./testpeer probe s=unix:@cb-escape-MARK | grep -q "hello from"`, false},
	// Runtime attacks. The launcher is started with a directory fd
	// leaked to it (fd 3, the user's home), as a leaky caller would.
	{"leaked directory fd", "CVE-2024-21626: use an inherited host directory fd", `for f in /proc/$$/fd/* /proc/self/fd/*; do [ -d "$f" ] && exit 0; done; exit 1`, false},
	// Privilege.
	{"planted setuid binary", "run a setuid-root copy planted in the project", `[ "$(./suid-id -u)" = 0 ]`, false},
	{"unshare and unmount a mask", "reveal /run/user/UID from a nested namespace", `unshare -Urm sh -c 'umount -l /run/user/UID; ls -A /run/user/UID' | grep -q .`, false},
	{"unshare and bind over home", "bind the root over the project's parent, look for the host home", `unshare -Urm sh -c 'mount --rbind / "$HOME" && grep -qs SECRET "$HOME"/home/*/.ssh/id_ed25519 "$HOME"/home/*/.aws/credentials'`, false},
	{"keyctl", "use the kernel keyring", `./testpeer syscall keyctl | grep -q allowed`, true},
	{"add_key", "add a key to a keyring", `./testpeer syscall add_key | grep -q allowed`, true},
	{"request_key", "ask the kernel for a key", `./testpeer syscall request_key | grep -q allowed`, true},
	{"bpf", "reach the eBPF syscall", `./testpeer syscall bpf | grep -q allowed`, true},
	{"perf_event_open", "reach the perf events syscall", `./testpeer syscall perf_event_open | grep -q allowed`, true},
	{"userfaultfd", "create a userfaultfd (user-mode only, which needs no privilege)", `./testpeer syscall userfaultfd | grep -q allowed`, true},
	// Processes.
	// (The pattern is written so that this script's own command line,
	// visible in /proc too, does not match it.)
	{"see a host process", "find a process of the same user outside", `for f in /proc/[0-9]*/cmdline; do tr '\0' ' ' <$f; echo; done | grep -q "^sleep 1000[.]HOSTMARK"`, false},
	{"signal a host process", "kill -0 a host pid", `kill -0 HOSTPID`, false},
	{"read a host process", "read a host process's environment", `cat /proc/HOSTPID/environ`, false},
	// Network (inet).
	{"inet: LAN", "connect to 192.168.77.10", `./testpeer probe x=192.168.77.10:8080 | grep -q "hello from"`, false},
	{"inet: Tailscale", "connect to 100.100.7.10", `./testpeer probe x=100.100.7.10:8080 | grep -q "hello from"`, false},
	{"inet: cloud metadata", "connect to 169.254.169.254", `./testpeer probe x=169.254.169.254:8080 | grep -q "hello from"`, false},
	{"inet: 10/8", "connect to 10.9.9.10", `./testpeer probe x=10.9.9.10:8080 | grep -q "hello from"`, false},
	{"inet: the relay's address", "connect to a LAN host at 10.0.2.100, the address the relay gives the sandbox", `./testpeer probe x=10.0.2.100:8080 | grep -q "hello from"`, false},
	{"inet: DNS rebinding", "connect to a public name that resolves to the LAN", `./testpeer probe x=rebind.test:8080 | grep -q "hello from"`, false},
	{"inet: IPv6 ULA", "connect to fd7a:115c:a1e0::10", `./testpeer probe x=[fd7a:115c:a1e0::10]:8080 | grep -q "hello from"`, false},
	{"inet: IPv6 internet", "leave over IPv6", `./testpeer probe x=[2001:db8:1::10]:8080 | grep -q "hello from"`, false},
	{"inet: host address", "connect to the host's own address", `./testpeer probe x=203.0.113.1:8080 | grep -q "hello from"`, false},
	{"inet: host loopback", "connect to a service on the host's 127.0.0.1", `./testpeer probe x=127.0.0.1:8080 | grep -q "hello from"`, false},
}

// hostProbes are attempts judged on the host after the run: each writes
// a file of the user's outside the project, which the user (uncontained)
// may write and the sandbox must not. Their commands run in the same
// script as escapeProbes.
var hostProbes = []struct {
	name, attack, cmd string
	escaped           func(w *escapeWorld) bool
}{
	{"write ~/.bashrc", "append to the user's ~/.bashrc (directly and through a planted symlink)",
		`echo pwned >> ~/.bashrc; echo pwned >> ./link-bashrc`,
		func(w *escapeWorld) bool { return w.read(".bashrc") != bashrcMarker+"\n" }},
	{"write the host's /tmp", "leave a file in the host's /tmp", `echo pwned > /tmp/cb-escape-host-MARK`,
		func(w *escapeWorld) bool { return exists("/tmp/cb-escape-host-" + w.mark) }},
	{"write through ../", "create a file in the project's parent, the user's home", `touch "$PWD/../cb-escape-up-MARK"`,
		func(w *escapeWorld) bool { return exists(filepath.Join(w.u.home, "cb-escape-up-"+w.mark)) }},
	{"install into ~/.local/bin", "put a program on the user's PATH (a PREFIX=$HOME/.local install)",
		`mkdir -p ~/.local/bin && printf '#!/bin/sh\n' > ~/.local/bin/cb-escape-MARK && chmod +x ~/.local/bin/cb-escape-MARK`,
		func(w *escapeWorld) bool { return exists(filepath.Join(w.u.home, ".local/bin/cb-escape-"+w.mark)) }},
	{"write ~/.config", "add to the user's git configuration (~/.config/git/config)",
		`mkdir -p ~/.config/git && echo '# MARK' >> ~/.config/git/config`,
		func(w *escapeWorld) bool { return strings.Contains(w.read(".config/git/config"), w.mark) }},
	{"hardlink outside", "hardlink a file of the user's outside the project into it and write it",
		`ln "$PWD/../cb-hl-MARK" ./hl && echo pwned >> ./hl`,
		func(w *escapeWorld) bool { return w.read("cb-hl-"+w.mark) != "ORIGINAL\n" }},
	{"replace the launcher", "CVE-2019-5736: write or replace claudebox's binary (a user-owned install) through /proc/1/exe, /.claudebox/claudebox or its path",
		`for f in /proc/1/exe /.claudebox/claudebox ~/.local/bin/claudebox; do printf x >> "$f" || { cp /bin/true "$f.new" && mv -f "$f.new" "$f"; }; done 2>/dev/null; true`,
		func(w *escapeWorld) bool { return w.hash(w.install) != w.installSum }},
}

// escapeWorld is what the suite plants on the host, reset before the
// control and again before the sandbox runs.
type escapeWorld struct {
	u          *account
	mark, uid  string
	proj       string
	worktree   string // a linked worktree of proj's repository
	install    string // the user's own copy of claudebox, ~/.local/bin/claudebox
	installSum [32]byte
	host       *exec.Cmd     // a process of the user's outside
	hostGone   chan struct{} // closed once host has exited
	gitMarks   []string
}

func exists(path string) bool { _, err := os.Lstat(path); return err == nil }

func (w *escapeWorld) read(rel string) string {
	b, _ := os.ReadFile(filepath.Join(w.u.home, rel))
	return string(b)
}

func (w *escapeWorld) hash(path string) [32]byte {
	b, _ := os.ReadFile(path)
	return sha256.Sum256(b)
}

// asUser runs a command on the host as the test user; a failure fails the
// test (a judge that cannot run cannot judge).
func (w *escapeWorld) asUser(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("setpriv", append([]string{"--reuid", w.uid, "--regid", strconv.Itoa(w.u.gid), "--clear-groups",
		"env", "HOME=" + w.u.home, "PATH=/usr/bin:/bin", "GIT_AUTHOR_NAME=u", "GIT_AUTHOR_EMAIL=u@e", "GIT_COMMITTER_NAME=u", "GIT_COMMITTER_EMAIL=u@e"}, args...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("on the host, as %s in %s: %v: %v\n%s", w.u.name, dir, args, err, out)
	}
}

// reset plants everything afresh: the targets of the host-judged probes,
// the git repository and its worktree, the user's process outside.
func (w *escapeWorld) reset(t *testing.T) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(writeOwned(w.u, filepath.Join(w.u.home, ".bashrc"), bashrcMarker+"\n"))
	must(writeOwned(w.u, filepath.Join(w.u.home, "cb-hl-"+w.mark), "ORIGINAL\n"))
	for _, p := range append([]string{"/tmp/cb-escape-host-" + w.mark, filepath.Join(w.u.home, "cb-escape-up-"+w.mark),
		filepath.Join(w.u.home, ".local/bin/cb-escape-"+w.mark), filepath.Join(w.u.home, ".config/git/config"),
		filepath.Join(w.proj, "hl"), w.install}, w.gitMarks...) {
		os.Remove(p)
	}
	must(copyExecutable(binPath, w.install))
	must(os.Chown(w.install, w.u.uid, w.u.gid))
	w.installSum = w.hash(w.install)

	os.RemoveAll(filepath.Join(w.proj, ".git"))
	if w.worktree != "" {
		os.RemoveAll(filepath.Dir(w.worktree))
	}
	w.asUser(t, w.proj, "git", "init", "-q")
	w.asUser(t, w.proj, "git", "commit", "-q", "--allow-empty", "-m", "init")
	w.worktree = filepath.Join(ownedTempDir(t, w.u, "proj-"), "wt")
	w.asUser(t, w.proj, "git", "worktree", "add", "-q", w.worktree)

	if w.host != nil {
		w.host.Process.Kill()
		<-w.hostGone
	}
	w.host = exec.Command("setpriv", "--reuid", w.uid, "--regid", strconv.Itoa(w.u.gid), "--clear-groups", "sleep", "1000."+strconv.Itoa(os.Getpid()))
	must(w.host.Start())
	gone := make(chan struct{})
	w.hostGone = gone
	go func(c *exec.Cmd) { c.Wait(); close(gone) }(w.host)
}

// hostDied reports whether the user's process outside was killed.
func (w *escapeWorld) hostDied() bool {
	select {
	case <-w.hostGone:
		return true
	case <-time.After(200 * time.Millisecond):
		return false
	}
}

// script is the probe script: escapeProbes report PROBE|name|result,
// hostProbes' attempts follow, the tools README promises work inside
// report FEAS|name|ok, the git plant comes last, then SCRIPT-DONE.
func (w *escapeWorld) script(probes []probeSpec, all bool) string {
	var b strings.Builder
	b.WriteString("p() { if timeout 5 sh -c \"$2\" >/dev/null 2>&1; then echo \"PROBE|$1|ESCAPED\"; else echo \"PROBE|$1|denied\"; fi; }\n")
	r := strings.NewReplacer("HOSTMARK", strconv.Itoa(os.Getpid()), "MARK", w.mark,
		"HOSTPID", strconv.Itoa(w.host.Process.Pid), "UID", w.uid)
	for _, p := range probes {
		fmt.Fprintf(&b, "p %s %s\n", shellQuote(p.name), shellQuote(r.Replace(p.cmd)))
	}
	if all {
		for _, p := range hostProbes {
			fmt.Fprintf(&b, "( %s ) >/dev/null 2>&1\n", r.Replace(p.cmd))
		}
		b.WriteString(`unshare -Urm sh -c 't=$(mktemp -d) && mount -t tmpfs x "$t" && touch "$t/f" && [ "$(id -u)" = 0 ]' && echo "FEAS|unshare -Urm|ok"` + "\n")
		b.WriteString(`bwrap --ro-bind / / --dev /dev --unshare-all --die-with-parent sh -c '[ -w /dev/null ]' && echo "FEAS|bwrap|ok"` + "\n")
		fmt.Fprintf(&b, "%s\n", plantGit("/tmp/cb-hook-"+w.mark, "/tmp/cb-fsmon-"+w.mark))
	}
	b.WriteString("echo SCRIPT-DONE\n")
	return b.String()
}

// outcome is what one phase (the control, or the sandbox) found.
type outcome map[string]string

func (o outcome) parse(stdout string) {
	for _, line := range strings.Split(stdout, "\n") {
		if f := strings.Split(line, "|"); len(f) == 3 && f[0] == "PROBE" {
			o[f[1]] = f[2]
		}
	}
}

func (o outcome) judge(name string, escaped bool) {
	o[name] = "denied"
	if escaped {
		o[name] = "ESCAPED"
	}
}

// ran fails the test unless a launch exited with code and printed marker:
// a launch that failed is not a denial.
func ran(t *testing.T, what string, r result, code int, marker string) {
	t.Helper()
	if r.code != code || !strings.Contains(r.stdout, marker) {
		t.Errorf("%s: want exit %d and %q, got\n%s", what, code, marker, r)
	}
}

func TestEscapeSuite(t *testing.T) {
	needSuite(t)
	resetClaudeState(t)
	u := testUser
	mark := "cb-escape-" + strconv.Itoa(os.Getpid())
	proj := worldProject(t, u)
	w := &escapeWorld{u: u, mark: mark, uid: strconv.Itoa(u.uid), proj: proj,
		install:  filepath.Join(u.home, ".local/bin/claudebox"),
		gitMarks: []string{"/tmp/cb-hook-" + mark, "/tmp/cb-fsmon-" + mark, "/tmp/cb-wt-hook-" + mark, "/tmp/cb-wt-fsmon-" + mark}}
	t.Cleanup(func() {
		if w.host != nil {
			w.host.Process.Kill()
		}
		for _, p := range append([]string{"/tmp/cb-escape-host-" + mark, filepath.Join(u.home, "cb-escape-up-"+mark),
			filepath.Join(u.home, ".local/bin/cb-escape-"+mark), filepath.Join(u.home, ".config/git/config"),
			filepath.Join(u.home, "cb-hl-"+mark), w.install}, w.gitMarks...) {
			os.Remove(p)
		}
		writeOwned(u, filepath.Join(u.home, ".bashrc"), bashrcMarker+"\n")
	})
	attacks := map[string]string{}

	// Secrets and Claude state of the user and of another project.
	for rel, content := range map[string]string{
		".gnupg/private-keys-v1.d/k.key":       "SECRET-gpg",
		".kube/config":                         "token: SECRET-kube",
		".docker/config.json":                  `{"auths":{"x":{"auth":"SECRET-docker"}}}`,
		".netrc":                               "machine x password SECRET-netrc",
		".git-credentials":                     "https://u:SECRET-git@x",
		".claude/projects/-host/session.jsonl": `{"msg":"HOST-TRANSCRIPT"}`,
	} {
		if err := writeOwned(u, filepath.Join(u.home, rel), content); err != nil {
			t.Fatal(err)
		}
	}
	other := newProject(t, u)
	mustExit(t, invocation{as: u, dir: other}.run(t, "--", "transcript", "OTHER-TRANSCRIPT"), 0)

	// Host sockets: the user's runtime dir, Docker's, an abstract one.
	runUser := "/run/user/" + w.uid
	if err := os.MkdirAll(runUser, 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chown(runUser, u.uid, u.gid)
	t.Cleanup(func() { os.RemoveAll(runUser) })
	serve := func(args ...string) {
		cmd := exec.Command(args[0], args[1:]...)
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		buf := make([]byte, 6)
		out.Read(buf)
	}
	serve(testpeer, "serve", "-unix", runUser+"/ssh-agent.sock")
	serve(testpeer, "serve", "-unix", runUser+"/bus")
	serve(testpeer, "serve", "-unix", "/run/docker.sock")
	t.Cleanup(func() { os.Remove("/run/docker.sock") })
	serve("ip", "netns", "exec", "cbw-world", testpeer, "serve", "-unix", "@cb-escape-"+mark)

	// The system bus (absent on this machine, it is played by a
	// listener; a real one is left as it is).
	if _, err := os.Stat("/run/dbus/system_bus_socket"); err != nil {
		os.MkdirAll("/run/dbus", 0o755)
		serve(testpeer, "serve", "-unix", "/run/dbus/system_bus_socket")
		t.Cleanup(func() { os.Remove("/run/dbus/system_bus_socket") })
	}

	// Planted files in the project.
	os.Symlink(filepath.Join(u.home, ".ssh/id_ed25519"), filepath.Join(proj, "link-secret"))
	os.Symlink(filepath.Join(u.home, ".bashrc"), filepath.Join(proj, "link-bashrc"))
	if out, err := exec.Command("install", "-o", "root", "-m", "4755", "/usr/bin/id", filepath.Join(proj, "suid-id")).CombinedOutput(); err != nil {
		t.Fatalf("planting a setuid binary: %v %s", err, out)
	}
	// A directory fd leaked to the launcher (fd 3 of what is started).
	leak, err := os.Open(u.home)
	if err != nil {
		t.Fatal(err)
	}
	defer leak.Close()
	for _, p := range escapeProbes {
		attacks[p.name] = p.attack
	}
	for _, p := range hostProbes {
		attacks[p.name] = p.attack
	}
	for name, attack := range map[string]string{
		"git hook planted":               "a pre-commit hook planted inside runs at the user's next git commit",
		"git fsmonitor planted":          "core.fsmonitor set inside runs at the user's next git status",
		"git hook planted in a worktree": "the same through a linked worktree's shared git directory",
		"full: host abstract socket":     "reach an abstract socket of the host from full (X11, session buses)",
		"none: egress":                   "connect or resolve anything from the none tier",
		"none: host abstract socket":     "reach an abstract socket of the host from none",
		"TIOCSTI":                        "push keystrokes into the terminal",
		"kill -9 -1":                     "kill every process of the user",
	} {
		attacks[name] = attack
	}

	// phase runs every probe, uncontained (the control) or sandboxed,
	// and returns what each did.
	phase := func(sandboxed bool) outcome {
		w.reset(t)
		o := outcome{}
		// run runs a shell script in the test world: uncontained as the
		// user, or through claudebox (in as given) on the tier.
		run := func(in invocation, tier, script string, extra ...string) result {
			t.Helper()
			if !sandboxed {
				in.bin = "/bin/sh"
				return in.inWorld(t, "-c", script)
			}
			return in.inWorld(t, append(append([]string{"run", "-q", "--network", tier}, extra...), "--", "sh", "-c", script)...)
		}
		in := invocation{as: u, dir: proj, extraFiles: []*os.File{leak}}
		if sandboxed {
			in.bin = w.install // the user's own install: a target too
		}
		r := run(in, "inet", w.script(escapeProbes, true))
		ran(t, fmt.Sprintf("the probe script (sandboxed: %v)", sandboxed), r, 0, "SCRIPT-DONE")
		o.parse(r.stdout)
		if sandboxed {
			for _, tool := range []string{"unshare -Urm", "bwrap"} {
				if !strings.Contains(r.stdout, "FEAS|"+tool+"|ok") {
					t.Errorf("%s does not work inside the sandbox (README says it does):\n%s", tool, r)
				}
			}
		}
		for _, p := range hostProbes {
			o.judge(p.name, p.escaped(w))
		}

		// The user's git on the host afterwards: a status (a prompt
		// showing the branch runs one at every prompt) and a commit.
		hostGit := func(dir string) {
			w.asUser(t, dir, "git", "status", "--short")
			w.asUser(t, dir, "git", "commit", "-q", "--allow-empty", "-m", "after the sandbox")
		}
		hostGit(proj)
		o.judge("git hook planted", exists(w.gitMarks[0]))
		o.judge("git fsmonitor planted", exists(w.gitMarks[1]))
		// Planted in a linked worktree: its hooks and config are the
		// shared git directory's, outside the project.
		r = run(invocation{as: u, dir: w.worktree}, "full", plantGit(w.gitMarks[2], w.gitMarks[3])+"; echo PLANTED")
		ran(t, "the worktree plant", r, 0, "PLANTED")
		hostGit(w.worktree)
		o.judge("git hook planted in a worktree", exists(w.gitMarks[2]) || exists(w.gitMarks[3]))

		// In full, the host's abstract sockets share the network
		// namespace: the Landlock scope keeps them out, and leaves the
		// sandbox's own.
		r = run(invocation{as: u, dir: proj}, "full",
			`./testpeer probe abstract=unix:@cb-escape-`+mark+`; ./testpeer serve -unix @cb-own-`+mark+` & sleep 0.5; ./testpeer probe own=unix:@cb-own-`+mark+`; kill $!; echo FULL-DONE`)
		ran(t, "the full run", r, 0, "FULL-DONE")
		o.judge("full: host abstract socket", greeted(r.stdout, "abstract"))
		if !greeted(r.stdout, "own") {
			t.Errorf("an abstract socket made inside is not usable inside (sandboxed: %v):\n%s", sandboxed, r)
		}

		// In none: nothing leaves, not even to the host's abstract
		// sockets.
		r = run(invocation{as: u, dir: proj}, "none",
			"./testpeer probe internet=198.51.100.10:8080 dns=dns:internet.test abstract=unix:@cb-escape-"+mark+"; echo NONE-DONE")
		ran(t, "the none run", r, 0, "NONE-DONE")
		for _, name := range []string{"internet ", "dns ", "abstract "} {
			if !strings.Contains(r.stdout, name) {
				t.Errorf("the none run did not probe %s:\n%s", name, r)
			}
		}
		o.judge("none: egress", greeted(r.stdout, "internet") || strings.Contains(r.stdout, "dns ok "))
		o.judge("none: host abstract socket", greeted(r.stdout, "abstract"))

		// TIOCSTI on a terminal: the sandbox has its own pty, and the
		// ioctl is refused anyway.
		line := "./testpeer tiocsti echo PWNED"
		if sandboxed {
			line = binPath + " run -q -- " + line
		}
		out := underScript(t, invocation{as: u, dir: proj}, line)
		if !strings.Contains(out, "tiocsti") && !strings.Contains(out, "injected") {
			t.Errorf("the TIOCSTI probe did not run (sandboxed: %v):\n%s", sandboxed, out)
		}
		o.judge("TIOCSTI", strings.Contains(out, "injected"))

		// kill -9 -1 kills what it can (all but the caller): only the
		// sandbox, where it kills a process of its own. Last: the control
		// kills every process of the user.
		r = run(invocation{as: u, dir: proj}, "full", `sleep 100 & kill -9 -1; wait $!; echo "KILLED=$?"`)
		ran(t, "the kill -9 -1 run", r, 0, "KILLED=137")
		o.judge("kill -9 -1", w.hostDied())
		return o
	}
	control := phase(false)

	// The syscall probes with the filter off: the filter is what refuses
	// them.
	var sc []probeSpec
	for _, p := range escapeProbes {
		if p.seccomp {
			sc = append(sc, p)
		}
	}
	noFilter := outcome{}
	r := invocation{as: u, dir: proj}.inWorld(t, "run", "-q", "--network", "none", "--seccomp=off", "--", "sh", "-c", w.script(sc, false))
	ran(t, "the --seccomp=off run", r, 0, "SCRIPT-DONE")
	noFilter.parse(r.stdout)

	sandbox := phase(true)

	// The table.
	names := make([]string, 0, len(sandbox))
	for n := range sandbox {
		names = append(names, n)
	}
	sort.Strings(names)
	var table bytes.Buffer
	fmt.Fprintf(&table, "\n| probe | attack | no sandbox | sandbox |\n|---|---|---|---|\n")
	escaped := 0
	for _, n := range names {
		ctl := control[n]
		if noFilter[n] != "" {
			ctl += "; --seccomp=off: " + noFilter[n]
		}
		fmt.Fprintf(&table, "| %s | %s | %s | %s |\n", n, attacks[n], ctl, sandbox[n])
		if sandbox[n] != "denied" {
			escaped++
		}
		if control[n] != "ESCAPED" {
			t.Errorf("control: %q does not escape without the sandbox (%q): its denial proves nothing", n, control[n])
		}
		if noFilter[n] != "" && noFilter[n] != "ESCAPED" {
			t.Errorf("control: %q is refused with --seccomp=off too: the filter is not what refuses it", n)
		}
	}
	t.Log(table.String())
	if want := len(attacks); len(sandbox) != want || len(control) != want {
		t.Errorf("%d probes reported in the sandbox, %d in the control, want %d", len(sandbox), len(control), want)
	}
	for _, p := range sc {
		if noFilter[p.name] == "" {
			t.Errorf("the --seccomp=off run did not report %q", p.name)
		}
	}
	if escaped > 0 {
		t.Errorf("%d probe(s) escaped", escaped)
	}
	if os.Getenv("CLAUDEBOX_ESCAPE_TABLE") != "" {
		os.WriteFile(os.Getenv("CLAUDEBOX_ESCAPE_TABLE"), table.Bytes(), 0o644)
	}
}

// plantGit is what a sandbox would run to have the host's git run code:
// a pre-commit hook, and core.fsmonitor (run by every git status), each
// touching a marker file on the host's /tmp.
func plantGit(hookMark, fsmonMark string) string {
	return fmt.Sprintf(`g=$(git rev-parse --git-common-dir)
		printf '#!/bin/sh\ntouch %s\n' > "$g/hooks/pre-commit"; chmod +x "$g/hooks/pre-commit"
		git config core.fsmonitor 'touch %s; false'
		true`, hookMark, fsmonMark)
}

// greeted reports whether testpeer probe's line for name connected and
// read the target's greeting ("NAME ok MS hello from ...").
func greeted(stdout, name string) bool {
	for _, line := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(line, name+" ok ") && strings.Contains(line, "hello from") {
			return true
		}
	}
	return false
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
