package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/claudebox/claudebox/launch"
)

// TestBadInput: each mistake exits 125 with one line that names the flag or
// path, a hint, and nothing left behind.
func TestBadInput(t *testing.T) {
	needSuite(t)
	proj := newProject(t, testUser)
	file := filepath.Join(proj, "a-file")
	if err := writeOwned(testUser, file, "x"); err != nil {
		t.Fatal(err)
	}
	full := filepath.Join(outsideDir(t, testUser), "full")
	if err := writeOwned(testUser, filepath.Join(full, "something"), "x"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"missing project", []string{"run", "--project", "/nonexistent/proj", "--", "true"}, []string{"--project /nonexistent/proj", "no such file"}},
		{"relative missing project", []string{"run", "--project", "nope", "--", "true"}, []string{"--project nope", "relative path is taken from the current directory"}},
		{"project is a file", []string{"run", "--project", file, "--", "true"}, []string{"is not a directory"}},
		{"missing --ro", []string{"run", "--ro", "/nonexistent/data", "--", "true"}, []string{"--ro /nonexistent/data"}},
		{"missing --rw", []string{"run", "--rw", "missing-dir", "--", "true"}, []string{"--rw missing-dir"}},
		{"missing --hide", []string{"run", "--hide", "/nonexistent/secret", "--", "true"}, []string{"--hide /nonexistent/secret"}},
		{"bad env name", []string{"run", "--env", "1BAD=x", "--", "true"}, []string{`"1BAD"`, "not a valid variable name"}},
		{"ro and rw of one path", []string{"run", "--ro", file, "--rw", file, "--", "true"}, []string{"both ro", "rw"}},
		{"run without command", []string{"run"}, []string{"run needs a command"}},
		{"unknown flag", []string{"run", "--bogus", "--", "true"}, []string{"unknown flag: --bogus"}},
		{"stray claude argument", []string{"--resume"}, []string{"unknown flag"}},
		{"export to non-empty dir", []string{"export-bundle", full, "--", "true"}, []string{"not empty", "--force"}},
		{"export into the project", []string{"export-bundle", filepath.Join(proj, "box"), "--", "true"}, []string{proj + "/box", "inside " + proj, "the sandbox can write", "export to a directory the sandbox cannot write"}},
		{"export into a --rw mount", []string{"export-bundle", "--rw", full, filepath.Join(full, "box"), "--", "true"}, []string{"inside " + full, "the sandbox can write"}},
		{"export to unwritable dir", []string{"export-bundle", "/usr/claudebox-bundle", "--", "true"}, []string{"/usr/claudebox-bundle", "permission denied"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := invocation{as: testUser, dir: proj}.run(t, c.args...)
			mustExit(t, r, 125)
			mustContain(t, r, c.want...)
			mustContain(t, r, "claudebox: ", "hint: ")
			if r.stdout != "" {
				t.Errorf("errors belong on stderr, stdout has %q", r.stdout)
			}
			assertNothingLeft(t, testUser)
		})
	}
	if entries, _ := os.ReadDir(full); len(entries) != 1 {
		t.Errorf("a refused export touched %s: %v", full, entries)
	}
	if _, err := os.Stat(filepath.Join(testUser.home, ".claudebox/instances", launch.InstanceID(proj))); err == nil {
		t.Error("refused launches and exports made the project's instance")
	}
}

// TestNoProjectInHome: started in the bare home directory, claudebox does
// not silently make the whole home the project.
func TestNoProjectInHome(t *testing.T) {
	needSuite(t)
	r := invocation{as: testUser, dir: testUser.home}.run(t, "run", "--", "true")
	mustExit(t, r, 125)
	mustContain(t, r, "not inside a project", "--project")
}

// TestUserNamespacesBlocked: a host that forbids user namespaces gets a
// message naming the sysctl and its fix. The limit is set to 0 in a user
// namespace of the test's own (user.max_user_namespaces is per namespace and
// binds everything below it), so the machine's setting is never touched.
func TestUserNamespacesBlocked(t *testing.T) {
	needSuite(t)
	proj := newProject(t, testUser)
	script := fmt.Sprintf(`echo 0 > /proc/sys/user/max_user_namespaces &&
		exec setpriv --reuid %d --regid %d --clear-groups "$@"`, testUser.uid, testUser.gid)
	cmd := invocation{as: testUser, dir: proj}.command("run", "--", "true")
	cmd.Args = append([]string{"sh", "-c", script, "sh", binPath}, cmd.Args[1:]...)
	cmd.Path = "/bin/sh"
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:                 syscall.CLONE_NEWUSER,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 65536}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 65536}},
		GidMappingsEnableSetgroups: true,
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run()
	r := result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
	mustExit(t, r, 125)
	mustContain(t, r, "user namespaces are not available", "user.max_user_namespaces is 0", "sysctl -w user.max_user_namespaces=")
	if n := strings.Count(r.stderr, "\n"); n != 2 {
		t.Errorf("want a message line and a hint line, got %d lines:\n%s", n, r.stderr)
	}
	assertNothingLeft(t, testUser)
}
