// Package integration drives the built claudebox binary end to end, as a
// user would: as the non-root test user (the product's main case) whose home
// holds planted secrets and whose environment holds tokens, and as root.
//
// It needs root (to act as the test user) and the user made by
// hack/setup-test-user.sh. Without them every test skips with the reason;
// `make test` in CI turns a skip into a failure.
package integration

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Planted in the test user's home and environment; none may show inside.
const (
	secretSSH    = "SECRET-SSH-KEY-c0ffee"
	secretAWS    = "SECRET-AWS-KEY-beef"
	secretGH     = "SECRET-GH-TOKEN-f00d"
	bashrcMarker = "# original bashrc"
	githubToken  = "ghp_SECRETgithubTOKEN"
	awsSecret    = "SECRETawsSECRETaccessKEY"
)

var (
	binPath  string // the claudebox binary under test, readable by all
	testUser *account
	skipWhy  string // non-empty: why the suite cannot run here
)

// account is a user the tests run claudebox as.
type account struct {
	name     string
	uid, gid int
	home     string
}

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := setup()
		if dir != "" {
			defer os.RemoveAll(dir)
		}
		if err != nil {
			skipWhy = err.Error()
		}
		defer teardownWorld()
		return m.Run()
	}())
}

// setup copies the binary where the test user can run it and plants the
// secrets. An error means the suite cannot run on this machine.
func setup() (string, error) {
	src := os.Getenv("CLAUDEBOX_BIN")
	if src == "" {
		return "", errors.New("CLAUDEBOX_BIN is not set (run `make integration`)")
	}
	if os.Geteuid() != 0 {
		return "", errors.New("requires root, to run claudebox as the test user")
	}
	name := os.Getenv("CLAUDEBOX_TEST_USER")
	if name == "" {
		name = "cbtest"
	}
	u, err := user.Lookup(name)
	if err != nil {
		return "", fmt.Errorf("test user %q missing (run hack/setup-test-user.sh): %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	testUser = &account{name: name, uid: uid, gid: gid, home: u.HomeDir}

	dir, err := os.MkdirTemp("", "claudebox-it-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return dir, err
	}
	binPath = filepath.Join(dir, "claudebox")
	for from, to := range map[string]string{
		src: binPath,
		filepath.Join(filepath.Dir(src), "cni", "bridge"):     filepath.Join(dir, "cni", "bridge"),
		filepath.Join(filepath.Dir(src), "cni", "host-local"): filepath.Join(dir, "cni", "host-local"),
	} {
		if err := copyExecutable(from, to); err != nil {
			return dir, err
		}
	}
	if err := plantSecrets(testUser); err != nil {
		return dir, err
	}
	return dir, setupWorld(dir)
}

func copyExecutable(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o755)
}

func plantSecrets(a *account) error {
	files := map[string]string{
		".ssh/id_ed25519":      "-----BEGIN OPENSSH PRIVATE KEY-----\n" + secretSSH + "\n",
		".aws/credentials":     "[default]\naws_secret_access_key = " + secretAWS + "\n",
		".config/gh/hosts.yml": "github.com:\n  oauth_token: " + secretGH + "\n",
		".bashrc":              bashrcMarker + "\n",
		".local/bin/claude":    stubClaude,
	}
	for rel, content := range files {
		if err := writeOwned(a, filepath.Join(a.home, rel), content); err != nil {
			return err
		}
	}
	return os.Chmod(filepath.Join(a.home, ".local/bin/claude"), 0o755)
}

// stubClaude stands in for Claude Code: it reports what it sees, and plays
// Claude's writes to its state (the real binary is tested separately).
const stubClaude = `#!/bin/sh
creds=~/.claude/.credentials.json
token() { printf '{"claudeAiOauth":{"accessToken":"%s","refreshToken":"r"}}' "$1"; }
case "$1" in
account) cat "$creds" 2>/dev/null || echo "not logged in" ;;
refresh-inplace) token "$2" > "$creds" ;;
refresh-rename) token "$2" > "$creds.tmp.$$" && mv "$creds.tmp.$$" "$creds" ;;
transcript)
	slug=$(pwd | tr / -)
	mkdir -p ~/.claude/projects/"$slug"
	echo "{\"msg\":\"$2\"}" >> ~/.claude/projects/"$slug"/session.jsonl
	echo "{\"display\":\"$2\"}" >> ~/.claude/history.jsonl
	echo "projects: $(ls ~/.claude/projects | tr '\n' ' ')"
	echo "history: $(cat ~/.claude/history.jsonl | tr '\n' ' ')" ;;
*) echo "stub-claude uid=$(id -u) gid=$(id -g) pwd=$(pwd) args=$*" ;;
esac
`

// writeOwned writes a file, creating parents, all owned by a.
func writeOwned(a *account, path, content string) error {
	rel, err := filepath.Rel(a.home, filepath.Dir(path))
	if err != nil {
		return err
	}
	d := a.home
	for _, part := range strings.Split(rel, "/") {
		if part == "." {
			continue
		}
		d = filepath.Join(d, part)
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
		if err := os.Chown(d, a.uid, a.gid); err != nil {
			return err
		}
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return err
	}
	return os.Chown(path, a.uid, a.gid)
}

// needSuite skips when the suite cannot run here (CI fails on any skip).
func needSuite(t *testing.T) {
	t.Helper()
	if skipWhy != "" {
		t.Skip(skipWhy)
	}
}

// result is what one claudebox invocation did.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// invocation is one run of the binary as some account.
type invocation struct {
	bin    string   // the claudebox to run; binPath if empty
	as     *account // nil: root
	dir    string   // working directory
	env    []string // on top of the account's base environment
	stdin  string
	groups []uint32 // supplementary groups (none by default)
	// extraFiles are inherited as fds 3, 4, ... (a leak a caller makes).
	extraFiles []*os.File
}

func (in invocation) binary() string {
	if in.bin != "" {
		return in.bin
	}
	return binPath
}

// asUserAndRoot runs f as a subtest "user" with the test user, then "root"
// with nil (root).
func asUserAndRoot(t *testing.T, f func(t *testing.T, as *account)) {
	t.Run("user", func(t *testing.T) { f(t, testUser) })
	t.Run("root", func(t *testing.T) { f(t, nil) })
}

// baseEnv is a login-like environment with tokens that must not leak.
func baseEnv(a *account) []string {
	home, name := "/root", "root"
	if a != nil {
		home, name = a.home, a.name
	}
	return []string{
		"HOME=" + home, "USER=" + name, "LOGNAME=" + name,
		"PATH=" + filepath.Join(home, ".local/bin") + ":/usr/local/bin:/usr/bin:/bin",
		"LANG=C.UTF-8", "TERM=xterm",
		"GITHUB_TOKEN=" + githubToken,
		"AWS_SECRET_ACCESS_KEY=" + awsSecret,
		"SSH_AUTH_SOCK=/run/user/1/ssh-agent.sock",
	}
}

func (in invocation) command(args ...string) *exec.Cmd {
	cmd := exec.Command(in.binary(), args...)
	cmd.Dir = in.dir
	cmd.Env = append(baseEnv(in.as), in.env...)
	if in.as != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: uint32(in.as.uid), Gid: uint32(in.as.gid), Groups: in.groups},
		}
	}
	cmd.Stdin = strings.NewReader(in.stdin)
	cmd.ExtraFiles = in.extraFiles
	return cmd
}

func (in invocation) run(t *testing.T, args ...string) result {
	t.Helper()
	cmd := in.command(args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting claudebox: %v", err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("claudebox %v timed out\nstdout: %s\nstderr: %s", args, stdout.String(), stderr.String())
	}
	return result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
}

// killAtEnd kills cmd at the end of the test if it still runs.
func killAtEnd(t *testing.T, cmd *exec.Cmd) {
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
}

// underScript runs a shell command line on a fresh terminal (script(1)),
// as typed in an interactive shell, and returns what the terminal showed.
func underScript(t *testing.T, in invocation, line string) string {
	t.Helper()
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("requires script (bsdutils)")
	}
	cmd := in.command()
	cmd.Path = script
	cmd.Args = []string{"script", "-qefc", line, "/dev/null"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("script -c %q: %v\n%s", line, err, out)
	}
	return string(out)
}

// newProject makes a project directory (a git work tree) owned by a, under
// its home, and removes it at the end of the test.
func newProject(t *testing.T, a *account) string {
	t.Helper()
	dir := ownedTempDir(t, a, "proj-")
	git := filepath.Join(dir, ".git")
	if err := os.Mkdir(git, 0o755); err != nil {
		t.Fatal(err)
	}
	if a != nil {
		if err := os.Chown(git, a.uid, a.gid); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// outsideDir makes a directory owned by a under its home, outside any
// project (and so outside what a sandbox can write), removed at the end of
// the test.
func outsideDir(t *testing.T, a *account) string { return ownedTempDir(t, a, "out-") }

// ownedTempDir makes a directory named prefix* in a's home (root's: nil),
// owned by a, and removes it at the end of the test.
func ownedTempDir(t *testing.T, a *account, prefix string) string {
	t.Helper()
	home, uid, gid := "/root", 0, 0
	if a != nil {
		home, uid, gid = a.home, a.uid, a.gid
	}
	dir, err := os.MkdirTemp(home, prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runtimeDir is where claudebox keeps per-launch state for the test user
// (no XDG_RUNTIME_DIR in the test environment).
func runtimeDir(a *account) string {
	if a == nil {
		return "/run/claudebox"
	}
	return filepath.Join(a.home, ".cache/claudebox/run")
}

// assertNothingLeft checks that no launch state survived in the runtime
// directory.
// launchState lists what launches left in the runtime directory: all but
// the rootfs skeletons, which launches of the same shape share and never
// write.
func launchState(t *testing.T, a *account) []string {
	t.Helper()
	entries, err := os.ReadDir(runtimeDir(a))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "rootfs-") {
			names = append(names, e.Name())
		}
	}
	return names
}

func assertNothingLeft(t *testing.T, a *account) {
	t.Helper()
	if names := launchState(t, a); len(names) > 0 {
		t.Errorf("launch state left in %s: %v", runtimeDir(a), names)
	}
	if a == nil { // root's inet leases (host-local): none may outlive a launch
		leases, _ := filepath.Glob("/run/claudebox-ipam/*/[0-9]*")
		if len(leases) > 0 {
			t.Errorf("IPAM leases left: %v", leases)
		}
	}
}

func mustContain(t *testing.T, r result, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(r.stdout+r.stderr, w) {
			t.Errorf("output lacks %q\n%s", w, r)
		}
	}
}

func mustNotContain(t *testing.T, r result, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(r.stdout+r.stderr, b) {
			t.Errorf("output contains %q\n%s", b, r)
		}
	}
}

func mustExit(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("want exit %d, got\n%s", code, r)
	}
}
