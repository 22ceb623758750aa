package integration

import (
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
// the sandbox exits. Any probe that succeeds fails the build.

type probeSpec struct {
	name, attack string
	// cmd runs inside; exit 0 means the attack worked.
	cmd string
}

// escapeProbes run in one inet sandbox in the test world. MARK, HOSTPID
// and UID are replaced before the run.
var escapeProbes = []probeSpec{
	// Secrets planted in the user's home and other Claude state.
	{"read ~/.ssh", "read the SSH private key", `grep -q SECRET ~/.ssh/id_ed25519`},
	{"read ~/.aws", "read AWS credentials", `grep -q SECRET ~/.aws/credentials`},
	{"read ~/.gnupg", "read a GnuPG private key", `grep -rq SECRET ~/.gnupg`},
	{"read ~/.kube/config", "read the kubeconfig", `grep -q SECRET ~/.kube/config`},
	{"read ~/.docker/config.json", "read registry credentials", `grep -q SECRET ~/.docker/config.json`},
	{"read ~/.netrc", "read .netrc", `grep -q SECRET ~/.netrc`},
	{"read ~/.git-credentials", "read git credentials", `grep -q SECRET ~/.git-credentials`},
	{"read ~/.config/gh", "read the GitHub CLI token", `grep -q SECRET ~/.config/gh/hosts.yml`},
	{"read another project's transcripts", "find another instance's history", `grep -rqs OTHER-TRANSCRIPT ~ /home`},
	{"read the host's ~/.claude/projects", "find the host's global history", `grep -rqs HOST-TRANSCRIPT ~ /home`},
	{"symlink to a secret", "read through a symlink planted in the project", `grep -q SECRET ./link-secret`},
	{"../ paths", "climb out of the project", `grep -qs SECRET "$PWD/../.ssh/id_ed25519" "$PWD/../../UID/.ssh/id_ed25519" /proc/1/root/home/*/.ssh/id_ed25519`},
	// Host sockets.
	{"ssh-agent socket", "connect to /run/user/UID/ssh-agent.sock", `./testpeer probe s=unix:/run/user/UID/ssh-agent.sock | grep -q " ok "`},
	{"D-Bus session bus", "connect to /run/user/UID/bus", `./testpeer probe s=unix:/run/user/UID/bus | grep -q " ok "`},
	{"docker.sock", "connect to /run/docker.sock", `./testpeer probe s=unix:/run/docker.sock | grep -q " ok "`},
	{"D-Bus system bus", "connect to /run/dbus/system_bus_socket", `./testpeer probe s=unix:/run/dbus/system_bus_socket | grep -q " ok "`},
	{"host abstract socket", "connect to an abstract unix socket of the host", `./testpeer probe s=unix:@cb-escape-MARK | grep -q " ok "`},
	// Writes outside the project.
	{"write /usr", "create a file in /usr", `touch /usr/cb-escape`},
	{"write /etc", "create a file in /etc", `touch /etc/cb-escape`},
	{"hardlink outside", "hardlink a host file into the project and write it", `ln /etc/hostname ./hl && echo x >> ./hl`},
	{"write through ../", "write above the project", `touch "$PWD/../../cb-escape" "$PWD/../../../cb-escape"`},
	// Runtime attacks.
	{"overwrite /proc/self/exe", "CVE-2019-5736: write the running binary", `echo x > /proc/self/exe`},
	{"overwrite pid1 binary", "write the sandbox's pid 1 through /proc/1/exe", `echo x > /proc/1/exe`},
	{"overwrite the launcher", "write claudebox's binary", `echo x > /.claudebox/claudebox`},
	{"leaked directory fd", "CVE-2024-21626: use an inherited host directory fd", `for f in /proc/$$/fd/* /proc/self/fd/*; do [ -d "$f" ] && exit 0; done; exit 1`},
	{"write /proc/sys", "change a kernel setting", `echo 1 > /proc/sys/kernel/sysrq`},
	{"write /sys", "change a device setting", `echo 1500 > /sys/class/net/lo/mtu`},
	{"sysrq-trigger", "trigger a magic SysRq", `echo h > /proc/sysrq-trigger`},
	// Privilege.
	{"su", "become root with su", `su -c true root </dev/null`},
	{"sudo", "become root with sudo", `sudo -n true </dev/null`},
	{"planted setuid binary", "run a setuid-root copy planted in the project", `[ "$(./suid-id -u)" = 0 ]`},
	{"capabilities", "hold any capability", `! grep -q 'CapEff:.0000000000000000' /proc/self/status`},
	{"mount in the sandbox", "mount over a path of the sandbox", `mount -t tmpfs x /mnt`},
	{"unshare and unmount a mask", "reveal /run/user/UID from a nested namespace", `unshare -Urm sh -c 'umount -l /run/user/UID; ls -A /run/user/UID' | grep -q .`},
	{"unshare and bind over home", "bind the root over the project's parent, look for the host home", `unshare -Urm sh -c 'mount --rbind / "$HOME" && grep -qs SECRET "$HOME"/home/*/.ssh/id_ed25519 "$HOME"/home/*/.aws/credentials'`},
	{"chroot", "chroot without a namespace of one's own", `chroot / true`},
	{"keyctl", "use the kernel keyring", `./testpeer syscall keyctl | grep -q allowed`},
	{"add_key", "add a key to a keyring", `./testpeer syscall add_key | grep -q allowed`},
	{"bpf", "load eBPF", `./testpeer syscall bpf | grep -q allowed`},
	{"perf_event_open", "open a perf event", `./testpeer syscall perf_event_open | grep -q allowed`},
	{"userfaultfd", "create a userfaultfd", `./testpeer syscall userfaultfd | grep -q allowed`},
	// Processes.
	// (The pattern is written so that this script's own command line,
	// visible in /proc too, does not match it.)
	{"see a host process", "find a process of the same user outside", `for f in /proc/[0-9]*/cmdline; do tr '\0' ' ' <$f; echo; done | grep -q "^sleep 1000[.]HOSTMARK"`},
	{"signal a host process", "kill -0 a host pid", `kill -0 HOSTPID`},
	{"read a host process", "read a host process's environment", `cat /proc/HOSTPID/environ`},
	// Network (inet).
	{"inet: LAN", "connect to 192.168.77.10", `./testpeer probe x=192.168.77.10:8080 | grep -q " ok "`},
	{"inet: Tailscale", "connect to 100.100.7.10", `./testpeer probe x=100.100.7.10:8080 | grep -q " ok "`},
	{"inet: cloud metadata", "connect to 169.254.169.254", `./testpeer probe x=169.254.169.254:8080 | grep -q " ok "`},
	{"inet: 10/8", "connect to 10.9.9.10", `./testpeer probe x=10.9.9.10:8080 | grep -q " ok "`},
	{"inet: DNS rebinding", "connect to a public name that resolves to the LAN", `./testpeer probe x=rebind.test:8080 | grep -q " ok "`},
	{"inet: IPv6 ULA", "connect to fd7a:115c:a1e0::10", `./testpeer probe x=[fd7a:115c:a1e0::10]:8080 | grep -q " ok "`},
	{"inet: IPv6 internet", "leave over IPv6", `./testpeer probe x=[2001:db8:1::10]:8080 | grep -q " ok "`},
	{"inet: host address", "connect to the host's own address", `./testpeer probe x=203.0.113.1:8080 | grep -q " ok "`},
	{"inet: host loopback", "reach the host's 127.0.0.1 through the gateway", `./testpeer probe x=10.0.2.2:8080 | grep -q " ok "`},
	{"inet: flush the firewall", "nft flush ruleset", `PATH=$PATH:/usr/sbin:/sbin nft flush ruleset`},
	{"inet: take the uplink down", "ip link set tap0 down", `PATH=$PATH:/usr/sbin:/sbin ip link set tap0 down`},
}

func TestEscapeSuite(t *testing.T) {
	needSuite(t)
	resetClaudeState(t)
	u := testUser
	mark := "cb-escape-" + strconv.Itoa(os.Getpid())
	uid := strconv.Itoa(u.uid)
	proj := worldProject(t, u)
	results := map[string]string{}
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
	runUser := "/run/user/" + uid
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

	// The project is a git repository, with a linked worktree: what the
	// sandbox plants in them, the host's git must not run.
	asUser := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("setpriv", append([]string{"--reuid", uid, "--regid", strconv.Itoa(u.gid), "--clear-groups",
			"env", "HOME=" + u.home, "PATH=/usr/bin:/bin", "GIT_AUTHOR_NAME=u", "GIT_AUTHOR_EMAIL=u@e", "GIT_COMMITTER_NAME=u", "GIT_COMMITTER_EMAIL=u@e"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("%v: %v\n%s", args, err, out)
		}
	}
	os.RemoveAll(filepath.Join(proj, ".git"))
	asUser(proj, "git", "init", "-q")
	asUser(proj, "git", "commit", "-q", "--allow-empty", "-m", "init")
	worktree := filepath.Join(ownedTempDir(t, u, "proj-"), "wt")
	asUser(proj, "git", "worktree", "add", "-q", worktree)
	gitMarks := []string{"/tmp/cb-hook-" + mark, "/tmp/cb-fsmon-" + mark, "/tmp/cb-wt-hook-" + mark, "/tmp/cb-wt-fsmon-" + mark}
	for _, m := range gitMarks {
		os.Remove(m)
		t.Cleanup(func() { os.Remove(m) })
	}

	// A process of the same user outside, and planted files in the project.
	host := exec.Command("setpriv", "--reuid", uid, "--regid", strconv.Itoa(u.gid), "--clear-groups", "sleep", "1000."+strconv.Itoa(os.Getpid()))
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Process.Kill(); host.Wait() })
	os.Symlink(filepath.Join(u.home, ".ssh/id_ed25519"), filepath.Join(proj, "link-secret"))
	os.Symlink(filepath.Join(u.home, ".bashrc"), filepath.Join(proj, "link-bashrc"))
	if out, err := exec.Command("install", "-o", "root", "-m", "4755", "/usr/bin/id", filepath.Join(proj, "suid-id")).CombinedOutput(); err != nil {
		t.Fatalf("planting a setuid binary: %v %s", err, out)
	}
	bashrc, _ := os.ReadFile(filepath.Join(u.home, ".bashrc"))
	os.Remove("/tmp/cb-escape-host-tmp")

	var script strings.Builder
	script.WriteString("p() { if timeout 5 sh -c \"$2\" >/dev/null 2>&1; then echo \"PROBE|$1|ESCAPED\"; else echo \"PROBE|$1|denied\"; fi; }\n")
	for _, p := range escapeProbes {
		cmd := strings.NewReplacer("HOSTMARK", strconv.Itoa(os.Getpid()), "MARK", mark,
			"HOSTPID", strconv.Itoa(host.Process.Pid), "UID", uid).Replace(p.cmd)
		fmt.Fprintf(&script, "p %s %s\n", shellQuote(p.name), shellQuote(cmd))
		attacks[p.name] = p.attack
	}
	// Writes judged on the host afterwards.
	script.WriteString("echo pwned >> ~/.bashrc; echo pwned >> ./link-bashrc; echo pwned > /tmp/cb-escape-host-tmp\n")
	fmt.Fprintf(&script, "%s\n", plantGit("/tmp/cb-hook-"+mark, "/tmp/cb-fsmon-"+mark))

	r := invocation{as: u, dir: proj}.inWorld(t, "run", "-q", "--network", "inet", "--", "sh", "-c", script.String())
	for _, line := range strings.Split(r.stdout, "\n") {
		if f := strings.Split(line, "|"); len(f) == 3 && f[0] == "PROBE" {
			results[f[1]] = f[2]
		}
	}
	judge := func(name, attack string, escaped bool) {
		attacks[name] = attack
		results[name] = "denied"
		if escaped {
			results[name] = "ESCAPED"
		}
	}
	after, _ := os.ReadFile(filepath.Join(u.home, ".bashrc"))
	judge("write ~/.bashrc", "append to the user's ~/.bashrc (directly and through a planted symlink)", string(after) != string(bashrc))
	_, err := os.Stat("/tmp/cb-escape-host-tmp")
	judge("write the host's /tmp", "leave a file in the host's /tmp", err == nil)

	// The user's git on the host afterwards: a status (a prompt showing
	// the branch runs one at every prompt) and a commit.
	hostGit := func(dir string) {
		asUser(dir, "git", "status", "--short")
		asUser(dir, "git", "commit", "-q", "--allow-empty", "-m", "after the sandbox")
	}
	ran := func(marks ...string) bool {
		for _, m := range marks {
			if _, err := os.Stat(m); err == nil {
				return true
			}
		}
		return false
	}
	hostGit(proj)
	judge("git hook planted", "a pre-commit hook planted inside runs at the user's next git commit", ran(gitMarks[0]))
	judge("git fsmonitor planted", "core.fsmonitor set inside runs at the user's next git status", ran(gitMarks[1]))
	// Planted in a linked worktree: its hooks and config are the shared
	// git directory's, outside the project.
	invocation{as: u, dir: worktree}.run(t, "run", "-q", "--", "sh", "-c", plantGit("/tmp/cb-wt-hook-"+mark, "/tmp/cb-wt-fsmon-"+mark))
	hostGit(worktree)
	judge("git hook planted in a worktree", "the same through a linked worktree's shared git directory", ran(gitMarks[2], gitMarks[3]))

	// In full, the host's abstract sockets share the network namespace:
	// the Landlock scope keeps them out, and leaves the sandbox's own.
	r = invocation{as: u, dir: proj}.inWorld(t, "run", "-q", "--network", "full", "--", "sh", "-c",
		`./testpeer probe abstract=unix:@cb-escape-`+mark+`; ./testpeer serve -unix @cb-own-`+mark+` & sleep 0.5; ./testpeer probe own=unix:@cb-own-`+mark+`; kill $!`)
	judge("full: host abstract socket", "reach an abstract socket of the host from full (X11, session buses)", strings.Contains(r.stdout, "abstract ok"))
	if !strings.Contains(r.stdout, "own ok") {
		t.Errorf("an abstract socket made inside is not usable inside:\n%s", r)
	}

	// In none: nothing leaves, not even to the host's abstract sockets.
	r = invocation{as: u, dir: proj}.inWorld(t, "run", "-q", "--network", "none", "--", "./testpeer", "probe",
		"internet=198.51.100.10:8080", "dns=dns:internet.test", "abstract=unix:@cb-escape-"+mark)
	judge("none: egress", "connect or resolve anything from the none tier", strings.Contains(r.stdout, "internet ok") || strings.Contains(r.stdout, "dns ok"))
	judge("none: host abstract socket", "reach an abstract socket of the host from none", strings.Contains(r.stdout, "abstract ok"))

	// kill -9 -1 kills what it can: only the sandbox.
	invocation{as: u, dir: proj}.run(t, "run", "-q", "--", "sh", "-c", "kill -9 -1")
	time.Sleep(100 * time.Millisecond)
	judge("kill -9 -1", "kill every process of the user", host.ProcessState != nil || exec.Command("kill", "-0", strconv.Itoa(host.Process.Pid)).Run() != nil)

	// TIOCSTI on a terminal: the sandbox has its own pty, and the ioctl is
	// refused anyway.
	out := underScript(t, invocation{as: u, dir: proj}, binPath+" run -q -- ./testpeer tiocsti echo PWNED")
	judge("TIOCSTI", "push keystrokes into the terminal", strings.Contains(out, "injected"))

	// The table.
	names := make([]string, 0, len(results))
	for n := range results {
		names = append(names, n)
	}
	sort.Strings(names)
	var table strings.Builder
	fmt.Fprintf(&table, "\n| probe | attack | result |\n|---|---|---|\n")
	escaped := 0
	for _, n := range names {
		fmt.Fprintf(&table, "| %s | %s | %s |\n", n, attacks[n], results[n])
		if results[n] != "denied" {
			escaped++
		}
	}
	t.Log(table.String())
	if judged := 10; len(results) < len(escapeProbes)+judged {
		t.Errorf("only %d of %d probes reported:\n%s", len(results), len(escapeProbes)+judged, r)
	}
	if escaped > 0 {
		t.Errorf("%d probe(s) escaped", escaped)
	}
	if os.Getenv("CLAUDEBOX_ESCAPE_TABLE") != "" {
		os.WriteFile(os.Getenv("CLAUDEBOX_ESCAPE_TABLE"), []byte(table.String()), 0o644)
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

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
