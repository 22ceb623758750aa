package integration

import (
	"encoding/json"
	"errors"
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

// The --ssh-agent tests: two real sshd (Debian's openssh-server) in the
// test world's peers, git.test (198.51.100.40) and other.test
// (198.51.100.41), with their own host keys and the same authorized key;
// the test user's real ssh-agent holding that key; claudebox launched in
// the world as the test user.

// sshFixture is that set-up.
type sshFixture struct {
	dir                  string // the test user's: agent socket, key, remote repository
	sshdDir              string // root's: sshd's configurations and host keys
	gitHostKey, otherKey string // the servers' private host keys
	agentSock            string
	agentLog             *screen // ssh-agent -d's debug output
	keyFragment          string  // a line of the private key
	pubKey               string  // the user's public key
	remote               string  // the bare repository pushed to
}

// signatures counts what the user's agent has signed so far.
func (f *sshFixture) signatures() int {
	return strings.Count(f.agentLog.String(), "process_sign_request2: good signature")
}

// asUser runs a host command as the test user (not in the world).
func asUser(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(baseEnv(testUser), env...)
	cmd.Dir = testUser.home
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(testUser.uid), Gid: uint32(testUser.gid)}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// inWorldAsUser runs a host command as the test user in the test world's
// host (its network and DNS), outside any sandbox.
func inWorldAsUser(env []string, name string, args ...string) (string, error) {
	path, _ := filepath.Abs("../hack/in-world.sh")
	cmd := exec.Command(path, append([]string{strconv.Itoa(testUser.uid), strconv.Itoa(testUser.gid), name}, args...)...)
	cmd.Env = append(baseEnv(testUser), env...)
	cmd.Dir = testUser.home
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func newSSHFixture(t *testing.T) *sshFixture {
	t.Helper()
	if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
		t.Fatal("requires sshd (hack/install-deps.sh --test installs openssh-server)")
	}
	f := &sshFixture{dir: ownedTempDir(t, testUser, "ssh-"), agentLog: &screen{}}
	var err error
	if f.sshdDir, err = os.MkdirTemp("", "claudebox-sshd-"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(f.sshdDir) })
	os.Chmod(f.sshdDir, 0o755) // the user's sshd session reads authorized_keys
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}

	// The user's key, and its agent: ssh-agent -d (debug, foreground)
	// prints each request, so what it signed can be counted.
	key := filepath.Join(f.dir, "id_push")
	asUser(t, nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "push-key", "-f", key)
	priv, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	// The fifth line holds the private half (after the public key).
	f.keyFragment = strings.Split(string(priv), "\n")[4]
	pub, _ := os.ReadFile(key + ".pub")
	f.pubKey = strings.TrimSpace(string(pub))
	f.agentSock = filepath.Join(f.dir, "agent.sock")
	agent := exec.Command("ssh-agent", "-d", "-a", f.agentSock)
	agent.Env = baseEnv(testUser)
	agent.Stdout, agent.Stderr = f.agentLog, f.agentLog
	agent.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(testUser.uid), Gid: uint32(testUser.gid)}}
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	killAtEnd(t, agent)
	waitFor(t, "the ssh-agent socket", func() bool { _, err := os.Stat(f.agentSock); return err == nil })
	asUser(t, []string{"SSH_AUTH_SOCK=" + f.agentSock}, "ssh-add", "-q", key)

	// The servers.
	authorized := filepath.Join(f.sshdDir, "authorized_keys")
	if err := os.WriteFile(authorized, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	hostLine := map[string]string{}
	for _, s := range []struct{ name, addr string }{{"git.test", "198.51.100.40"}, {"other.test", "198.51.100.41"}} {
		hk := filepath.Join(f.sshdDir, s.name+"_host")
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hk).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v %s", err, out)
		}
		hpub, _ := os.ReadFile(hk + ".pub")
		hostLine[s.name] = strings.Join(strings.Fields(string(hpub))[:2], " ")
		cfg := filepath.Join(f.sshdDir, s.name+".conf")
		conf := strings.Join([]string{
			"ListenAddress " + s.addr + ":22", "HostKey " + hk, "PidFile none", "UsePAM no",
			"PasswordAuthentication no", "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
			"AuthorizedKeysFile " + authorized, "StrictModes no", "AllowUsers " + testUser.name,
		}, "\n") + "\n"
		if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		log := &screen{} // what sshd says
		sshd := exec.Command("ip", "netns", "exec", "cbw-peers", "/usr/sbin/sshd", "-D", "-e", "-f", cfg)
		sshd.Stdout, sshd.Stderr = log, log
		if err := sshd.Start(); err != nil {
			t.Fatal(err)
		}
		killAtEnd(t, sshd)
		waitFor(t, s.name+"'s sshd", func() bool { return strings.Contains(log.String(), "Server listening") })
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s sshd:\n%s", s.name, log.String())
			}
		})
	}
	f.gitHostKey = filepath.Join(f.sshdDir, "git.test_host")
	f.otherKey = filepath.Join(f.sshdDir, "other.test_host")

	// The user's known_hosts knows both servers, git.test hashed (as
	// HashKnownHosts writes it).
	khPath := filepath.Join(testUser.home, ".ssh/known_hosts")
	if err := writeOwned(testUser, khPath, "other.test "+hostLine["other.test"]+"\n"+"git.test "+hostLine["git.test"]+"\n"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(khPath) })
	asUser(t, nil, "ssh-keygen", "-q", "-H", "-f", khPath)
	os.Remove(khPath + ".old")
	if kh, _ := os.ReadFile(khPath); strings.Contains(string(kh), "git.test") {
		t.Fatalf("known_hosts not hashed:\n%s", kh)
	}

	// The repository pushed to, the test user's.
	f.remote = filepath.Join(f.dir, "remote.git")
	asUser(t, nil, "git", "init", "-q", "--bare", f.remote)
	return f
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not come up", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sshProject is a git repository of the test user with origin at
// git.test, holding testpeer and both servers' host keys (a hostile
// sandbox that knows them).
func (f *sshFixture) sshProject(t *testing.T) string {
	t.Helper()
	proj := worldProject(t, testUser)
	asUser(t, nil, "git", "init", "-q", "-b", "main", proj)
	asUser(t, nil, "git", "-C", proj, "remote", "add", "origin", testUser.name+"@git.test:"+f.remote)
	for _, k := range []string{f.gitHostKey, f.otherKey} {
		b, err := os.ReadFile(k)
		if err != nil {
			t.Fatal(err)
		}
		if err := writeOwned(testUser, filepath.Join(proj, filepath.Base(k)), string(b)); err != nil {
			t.Fatal(err)
		}
	}
	return proj
}

// TestSSHAgentPush: inside --network inet --ssh-agent git.test, git push
// over ssh works with the user's agent, while the private key is nowhere
// to read; a commit signed inside (--ssh-agent-sign git) verifies on the
// host; an SSHSIG in another namespace is refused.
func TestSSHAgentPush(t *testing.T) {
	needSuite(t)
	f := newSSHFixture(t)
	proj := f.sshProject(t)
	in := invocation{as: testUser, dir: proj, env: []string{"SSH_AUTH_SOCK=" + f.agentSock}}
	before := f.signatures()
	script := `set -u
git -c user.name=t -c user.email=t@e commit -q --allow-empty -m pushed-from-sandbox || echo COMMIT-FAILED
git push -q origin HEAD:refs/heads/main && echo PUSHED
git -c gpg.format=ssh -c user.signingkey="key::$(ssh-add -L | head -n1)" -c user.name=t -c user.email=t@e commit -q --allow-empty -S -m signed-in-sandbox && echo SIGNED-COMMIT
echo data > /tmp/f; ssh-add -L | head -n1 > /tmp/k.pub
ssh-keygen -Y sign -n file -f /tmp/k.pub /tmp/f 2>&1 || echo SSHSIG-FILE-REFUSED
echo "agent=$SSH_AUTH_SOCK"
echo "found:[$(grep -rlsF "$1" "$HOME" /home /tmp /run /etc /.claudebox "$PWD")]"
`
	r := in.inWorld(t, "run", "-q", "--network", "inet", "--ssh-agent", "git.test", "--ssh-agent-sign", "git", "--",
		"sh", "-c", script, "sh", f.keyFragment)
	mustExit(t, r, 0)
	mustContain(t, r, "PUSHED", "SIGNED-COMMIT", "SSHSIG-FILE-REFUSED", "agent=/.claudebox/ssh-agent.sock", "found:[]")
	mustNotContain(t, r, "COMMIT-FAILED", f.keyFragment)
	// Pushed: the remote has the commit made inside.
	if log := asUser(t, nil, "git", "--git-dir", f.remote, "log", "--format=%s", "main"); !strings.Contains(log, "pushed-from-sandbox") {
		t.Errorf("the remote's main: %q", log)
	}
	// The user's own agent signed the login and the commit (and only
	// those: the file namespace never reached it).
	if n := f.signatures() - before; n != 2 {
		t.Errorf("the user's agent signed %d times, want 2 (the push's login, the commit)\n%s", n, f.agentLog.String())
	}
	// The signed commit verifies on the host, with the user's key.
	signers := filepath.Join(f.dir, "allowed_signers")
	if err := writeOwned(testUser, signers, `t@e namespaces="git" `+f.pubKey+"\n"); err != nil {
		t.Fatal(err)
	}
	asUser(t, nil, "git", "-C", proj, "-c", "gpg.ssh.allowedSignersFile="+signers, "verify-commit", "HEAD")
	// Positive control of the key search: the same grep on the host finds
	// the key file.
	out, _ := exec.Command("grep", "-rlsF", f.keyFragment, testUser.home).CombinedOutput()
	if !strings.Contains(string(out), "id_push") {
		t.Fatalf("control: grep on the host does not find the key: %s", out)
	}
	// The decisions were logged, the host key's fingerprint with them.
	lr := invocation{as: testUser, dir: proj}.run(t, "agent-log", "--json")
	mustExit(t, lr, 0)
	var entries []map[string]any
	if err := json.Unmarshal([]byte(lr.stdout), &entries); err != nil {
		t.Fatalf("agent-log --json: %v\n%s", err, lr.stdout)
	}
	has := func(event, verdict, what string) bool {
		for _, e := range entries {
			if e["event"] == event && e["verdict"] == verdict && (e["host"] == what || e["namespace"] == what) {
				return true
			}
		}
		return false
	}
	for _, c := range [][3]string{{"bind", "allowed", "git.test"}, {"sign", "allowed", "git.test"}, {"sign", "allowed", "git"}, {"sign", "refused", "file"}} {
		if !has(c[0], c[1], c[2]) {
			t.Errorf("agent-log lacks %v:\n%s", c, lr.stdout)
		}
	}
	// The allowlist tier, with the host's ssh port listed as nameless, pushes too.
	ar := in.inWorld(t, "run", "-q", "--network", "allowlist", "--allow-host", "git.test:22/nameless", "--ssh-agent", "git.test", "--", "sh", "-c",
		"git -c user.name=t -c user.email=t@e commit -q --allow-empty -m via-allowlist && git push -q origin HEAD:refs/heads/main && echo PUSHED")
	mustExit(t, ar, 0)
	mustContain(t, ar, "PUSHED")
	if log := asUser(t, nil, "git", "--git-dir", f.remote, "log", "-1", "--format=%s", "main"); !strings.Contains(log, "via-allowlist") {
		t.Errorf("the remote's main after the allowlist push: %q", log)
	}
	assertNothingLeft(t, testUser)
}

// TestSSHAgentOtherHost: ssh from inside to other.test, a server whose
// host key the user knows but did not name, is refused, and the user's
// agent signs nothing for it; the same ssh from the host succeeds (the
// server listened and takes the key). Hand-made requests through the
// socket are refused too, but for the control bound to git.test.
func TestSSHAgentOtherHost(t *testing.T) {
	needSuite(t)
	f := newSSHFixture(t)
	proj := f.sshProject(t)
	in := invocation{as: testUser, dir: proj, env: []string{"SSH_AUTH_SOCK=" + f.agentSock}}
	// The sandbox knows other.test's key (it could learn it anyway).
	otherLine, err := exec.Command("ssh-keygen", "-y", "-f", f.otherKey).Output()
	if err != nil {
		t.Fatal(err)
	}
	if err := writeOwned(testUser, filepath.Join(proj, "kh"), "other.test "+string(otherLine)); err != nil {
		t.Fatal(err)
	}
	sshOther := []string{"ssh", "-o", "BatchMode=yes", "-o", "UserKnownHostsFile=" + filepath.Join(proj, "kh"),
		testUser.name + "@other.test", "echo", "reached-other"}

	before := f.signatures()
	r := in.inWorld(t, append([]string{"run", "-q", "--network", "inet", "--ssh-agent", "git.test", "--"}, sshOther...)...)
	if r.code != 255 || strings.Contains(r.stdout, "reached-other") || !strings.Contains(r.stderr, "Permission denied") {
		t.Fatalf("ssh to other.test from inside:\n%s", r)
	}
	if n := f.signatures() - before; n != 0 {
		t.Fatalf("the user's agent signed %d times for other.test\n%s", n, f.agentLog.String())
	}
	// Positive control: from the host, with the same agent, it works.
	out, err := inWorldAsUser([]string{"SSH_AUTH_SOCK=" + f.agentSock}, sshOther[0], sshOther[1:]...)
	if err != nil || !strings.Contains(out, "reached-other") {
		t.Fatalf("control: ssh to other.test from the host: %v\n%s", err, out)
	}
	if n := f.signatures() - before; n != 1 {
		t.Fatalf("control: the user's agent signed %d times, want 1", n)
	}
	// The launch's log says why: other.test's key is not a named host's.
	lr := invocation{as: testUser, dir: proj}.run(t, "agent-log")
	mustContain(t, lr, "bind", "refused", "not one known_hosts lists for a named host")

	// Hand-made requests through the socket (x/crypto's agent client).
	before = f.signatures()
	pr := in.inWorld(t, "run", "-q", "--network", "inet", "--ssh-agent", "git.test", "--",
		"sh", "-c", `./testpeer agent-probe "$SSH_AUTH_SOCK" git.test_host other.test_host`)
	mustExit(t, pr, 0)
	mustContain(t, pr, "no-bind refused", "other-host refused", "wrong-id refused", "forwarding refused", "bound-login signed")
	if n := f.signatures() - before; n != 1 {
		t.Fatalf("the user's agent signed %d times for the probes, want 1 (the control)", n)
	}
	assertNothingLeft(t, testUser)
}

// TestSSHAgentRefusesLaunch: no agent, or a named host that known_hosts
// does not list, refuses the launch with the fix; a launcher killed with
// SIGKILL leaves its agent socket only until the next launch.
func TestSSHAgentRefusesLaunch(t *testing.T) {
	needSuite(t)
	f := newSSHFixture(t)
	proj := f.sshProject(t)
	in := invocation{as: testUser, dir: proj, env: []string{"SSH_AUTH_SOCK=" + f.agentSock}}
	r := in.inWorld(t, "run", "-q", "--network", "inet", "--ssh-agent", "unknown.test", "--", "true")
	mustExit(t, r, 125)
	mustContain(t, r, "has no key for unknown.test", "ssh-keyscan unknown.test >> ~/.ssh/known_hosts")
	noAgent := invocation{as: testUser, dir: proj, env: []string{"SSH_AUTH_SOCK=" + filepath.Join(f.dir, "gone.sock")}}
	r = noAgent.inWorld(t, "run", "-q", "--network", "inet", "--ssh-agent", "git.test", "--", "true")
	mustExit(t, r, 125)
	mustContain(t, r, "no ssh-agent answers", "ssh-add")
	// Control: with both, the same launch runs.
	mustExit(t, in.inWorld(t, "run", "-q", "--network", "inet", "--ssh-agent", "git.test", "--", "true"), 0)

	cmd := in.startInWorld(t, "run", "-q", "--network", "inet", "--ssh-agent", "git.test", "--", "sh", "-c", "echo ready; exec sleep 60")
	socks, _ := filepath.Glob(filepath.Join(runtimeDir(testUser), "cb-*", "ssh-agent.sock"))
	if len(socks) != 1 {
		t.Fatalf("agent sockets while it runs: %v", socks)
	}
	if c, err := net.Dial("unix", socks[0]); err != nil {
		t.Fatalf("the agent socket does not answer: %v", err)
	} else {
		c.Close()
	}
	cmd.Process.Kill()
	cmd.Wait()
	mustExit(t, in.inWorld(t, "run", "-q", "--network", "none", "--", "true"), 0)
	if socks, _ := filepath.Glob(filepath.Join(runtimeDir(testUser), "cb-*", "ssh-agent.sock")); len(socks) != 0 {
		t.Fatalf("agent sockets left after the next launch: %v", socks)
	}
	assertNothingLeft(t, testUser)
	if _, err := os.Stat(socks[0]); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s: %v", socks[0], err)
	}
}

// The login testpeer's git server asks for on push.git (gitLogin).
const gitPushUser, gitPushPassword = "pusher", "push-secret-7f3a"

// TestGitCredential: with --git-credential git.test, git inside pushes
// over HTTPS to a server that asks for a login, with the login the
// user's own credential helper (credential-store) holds; a request for
// other.test, which the same helper also holds, gets nothing.
func TestGitCredential(t *testing.T) {
	needSuite(t)
	dir := ownedTempDir(t, testUser, "cred-")
	store := filepath.Join(dir, "store")
	if err := writeOwned(testUser, store, "https://"+gitPushUser+":"+gitPushPassword+"@git.test\nhttps://"+gitPushUser+":other-secret@other.test\n"); err != nil {
		t.Fatal(err)
	}
	gitconfig := filepath.Join(testUser.home, ".gitconfig")
	if err := writeOwned(testUser, gitconfig, "[credential]\n\thelper = store --file "+store+"\n"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(gitconfig) })
	proj := worldProject(t, testUser)
	asUser(t, nil, "git", "init", "-q", "-b", "main", proj)
	asUser(t, nil, "git", "-C", proj, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "--allow-empty", "-m", "pushed-over-https")
	branch := "cred-" + strconv.Itoa(os.Getpid())
	push := "git -c http.sslVerify=false push -q https://git.test/push.git HEAD:refs/heads/" + branch + " && echo PUSHED"
	in := invocation{as: testUser, dir: proj}

	// Control: without the flag the server refuses the push (it asks for
	// a login, and nothing inside has one).
	r := in.inWorld(t, "run", "-q", "--network", "inet", "--", "sh", "-c", "GIT_TERMINAL_PROMPT=0 "+push)
	if r.code == 0 || strings.Contains(r.stdout, "PUSHED") {
		t.Fatalf("pushed without a login:\n%s", r)
	}
	r = in.inWorld(t, "run", "-q", "--network", "inet", "--git-credential", "git.test", "--", "sh", "-c",
		push+`; printf 'protocol=https\nhost=other.test\n\n' | GIT_TERMINAL_PROMPT=0 git credential fill; echo "fill-other=$?"`)
	mustExit(t, r, 0)
	mustContain(t, r, "PUSHED", "fill-other=128")
	mustNotContain(t, r, "other-secret")
	out, err := exec.Command("git", "--git-dir", "/run/claudebox-testworld/git/push.git", "log", "--format=%s", branch).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "pushed-over-https") {
		t.Fatalf("the server's %s: %v %s", branch, err, out)
	}
	// Control: the host's helper does hold other.test's login.
	if got := asUser(t, []string{"GIT_TERMINAL_PROMPT=0"}, "sh", "-c", `printf 'protocol=https\nhost=other.test\n\n' | git credential fill`); !strings.Contains(got, "other-secret") {
		t.Fatalf("control: the host's helper for other.test: %q", got)
	}
	lr := in.run(t, "agent-log", "--json")
	mustExit(t, lr, 0)
	for _, want := range []string{`"host": "git.test"`, `"host": "other.test"`, `"verdict": "allowed"`, `"verdict": "refused"`} {
		if !strings.Contains(lr.stdout, want) {
			t.Errorf("agent-log lacks %s:\n%s", want, lr.stdout)
		}
	}
	mustNotContain(t, lr, gitPushPassword)
	// The plan marks it.
	pr := in.run(t, "run", "--dry-run", "--git-credential", "git.test", "--", "true")
	mustContain(t, pr, "! git-credential", "git.test")
	assertNothingLeft(t, testUser)
}
