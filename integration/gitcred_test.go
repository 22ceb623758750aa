package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// hostFill runs the host's `git credential fill` for git.test as the test
// user, outside any sandbox; its failure (no login) is expected.
func hostFill(t *testing.T) {
	t.Helper()
	cmd := exec.Command("git", "credential", "fill")
	cmd.Env = append(baseEnv(testUser), "GIT_TERMINAL_PROMPT=0")
	cmd.Dir = testUser.home
	cmd.Stdin = strings.NewReader("protocol=https\nhost=git.test\n\n")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(testUser.uid), Gid: uint32(testUser.gid)}}
	_ = cmd.Run()
}

// The user's ~/.gitconfig is a link into a dotfiles project: a sandbox of
// that project can write a credential helper there. --git-credential
// refuses to start, naming the file, and the helper never runs on the
// host. Controls: the sandbox does write it (a launch without the flag),
// and the host's own git runs what it wrote.
func TestGitCredentialWritableConfig(t *testing.T) {
	needSuite(t)
	dots := newProject(t, testUser)
	if err := writeOwned(testUser, filepath.Join(dots, "gitconfig"), "[user]\n\tname = t\n"); err != nil {
		t.Fatal(err)
	}
	gitconfig := filepath.Join(testUser.home, ".gitconfig")
	if _, err := os.Lstat(gitconfig); err == nil {
		t.Fatalf("%s exists already", gitconfig)
	}
	if err := os.Symlink(filepath.Join(dots, "gitconfig"), gitconfig); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(gitconfig) })
	if err := os.Lchown(gitconfig, testUser.uid, testUser.gid); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(outsideDir(t, testUser), "helper-ran")
	in := invocation{as: testUser, dir: dots}
	plant := `printf '[credential]\n\thelper = "!f() { echo ran > ` + marker + `; }; f"\n' >> gitconfig && echo PLANTED`

	// Control: the sandbox can write the user's git configuration.
	r := in.run(t, "run", "-q", "--network", "none", "--", "sh", "-c", plant)
	mustExit(t, r, 0)
	mustContain(t, r, "PLANTED")

	r = in.run(t, "run", "-q", "--network", "none", "--git-credential", "git.test", "--", "sh", "-c",
		plant+`; printf 'protocol=https\nhost=git.test\n\n' | GIT_TERMINAL_PROMPT=0 git credential fill; echo SANDBOX-RAN`)
	if r.code == 0 || strings.Contains(r.stdout, "SANDBOX-RAN") {
		_, err := os.Stat(marker)
		t.Fatalf("started with a sandbox-writable ~/.gitconfig (the planted helper ran on the host: %v):\n%s", err == nil, r)
	}
	t.Logf("refused: %s", r.stderr)
	mustContain(t, r, gitconfig, dots, "--git-credential")
	if _, err := os.Stat(marker); err == nil {
		t.Fatalf("the planted credential helper ran on the host")
	}
	// Control: the host's git runs the helper the sandbox wrote.
	hostFill(t)
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("control: the host's git did not run the planted helper: %v", err)
	}
	assertNothingLeft(t, testUser)
}

// A sandbox floods the credential socket with refused requests naming
// 60 KB hosts: the log stays small, and agent-log still shows the
// refusal made before the flood.
func TestGitCredentialLogFlood(t *testing.T) {
	needSuite(t)
	if _, err := exec.LookPath("perl"); err != nil {
		t.Fatal("requires perl")
	}
	proj := newProject(t, testUser)
	in := invocation{as: testUser, dir: proj}
	script := `printf 'protocol=https\nhost=other.test\n\n' | GIT_TERMINAL_PROMPT=0 git credential fill; echo fill=$?
perl -MIO::Socket::UNIX -e '
my $h = "h" x 60000; my $n = 0;
for (1..1500) { my $s = IO::Socket::UNIX->new(Peer => "/.claudebox/git-credential.sock") or next;
  print $s "protocol=http\nhost=$h\n\n"; shutdown($s, 1); my $x; sysread($s, $x, 10); close $s; $n++ }
print "sent $n\n";'`
	r := in.run(t, "run", "-q", "--network", "none", "--git-credential", "git.test", "--", "sh", "-c", script)
	mustExit(t, r, 0)
	mustContain(t, r, "fill=128", "sent 1500")
	lr := in.run(t, "agent-log")
	mustExit(t, lr, 0)
	mustContain(t, lr, "other.test")
	if n := strings.Count(lr.stdout, "hhhh"); n < 1000 {
		t.Errorf("agent-log shows %d of the flood's requests", n)
	}
	logs, _ := filepath.Glob(filepath.Join(testUser.home, ".claudebox/instances/*/agentlog/*.jsonl"))
	slices.SortFunc(logs, func(a, b string) int { return strings.Compare(filepath.Base(a), filepath.Base(b)) })
	if len(logs) == 0 {
		t.Fatal("no agent log")
	}
	fi, err := os.Stat(logs[len(logs)-1])
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 1<<20 {
		t.Errorf("the session's log %s holds %d bytes", fi.Name(), fi.Size())
	}
	assertNothingLeft(t, testUser)
}
