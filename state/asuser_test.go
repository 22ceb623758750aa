package state

import (
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// asTestUser runs the test named by pattern (a -test.run pattern naming
// exactly one test or subtest, which is t) in a copy of this test binary
// as the unprivileged test user, when the tests run as root: root reads a
// mode 000 file, so such a case would prove nothing as root, and CI runs
// as root. It reports whether it did; the caller returns then. The test
// user is $CLAUDEBOX_TEST_USER, else cbtest (hack/setup-test-user.sh).
func asTestUser(t *testing.T, pattern string) bool {
	t.Helper()
	if os.Geteuid() != 0 {
		return false
	}
	name := os.Getenv("CLAUDEBOX_TEST_USER")
	if name == "" {
		name = "cbtest"
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Skipf("as root, this case runs as the test user %s: %v (hack/setup-test-user.sh makes it)", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir, err := os.MkdirTemp("", "claudebox-asuser-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "state.test")
	if err := copyExecutable(exe); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run", pattern, "-test.v", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+u.HomeDir, "TMPDIR=/tmp")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("as %s (uid %d): %v\n%s", name, uid, err, out)
	}
	t.Logf("passed as %s (uid %d)", name, uid)
	return true
}

func copyExecutable(to string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	in, err := os.Open(self)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
