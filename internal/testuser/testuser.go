// Package testuser lets a unit test run a case as the unprivileged test
// user when the tests run as root (as CI does), where root would prove
// nothing: root reads a mode 000 file and writes a mode 0555 directory.
// Only tests import it.
package testuser

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

// Name is the test user: $CLAUDEBOX_TEST_USER, else cbtest (made by
// hack/setup-test-user.sh).
func Name() string {
	if n := os.Getenv("CLAUDEBOX_TEST_USER"); n != "" {
		return n
	}
	return "cbtest"
}

// Rerun runs t again, in a copy of the test binary, as the test user, when
// the tests run as root, and reports whether it did: the caller returns
// then. pattern is a -test.run pattern naming exactly t (for a subtest,
// "^TestX$/^name$"). As another user it returns false and t goes on. A
// root run without the test user skips, with the fix; CI turns a skip into
// a failure.
func Rerun(t *testing.T, pattern string) bool {
	t.Helper()
	if os.Geteuid() != 0 {
		return false
	}
	name := Name()
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
	exe := filepath.Join(dir, "test")
	if err := copySelf(exe); err != nil {
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

func copySelf(to string) error {
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
