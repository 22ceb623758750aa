package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestAgentGitFlow: with .git/hooks and .git/config read-only inside, an
// agent's normal work still goes through, with real git against a bare
// remote (shown with --rw), and npm; what git on the host would run
// cannot be planted, and SANDBOX.md says why.
func TestAgentGitFlow(t *testing.T) {
	needSuite(t)
	resetClaudeState(t)
	proj := newProject(t, testUser)
	remote := filepath.Join(outsideDir(t, testUser), "remote.git")
	host := func(dir string, args ...string) {
		t.Helper()
		cmd := invocation{as: testUser, dir: dir}.command()
		cmd.Path, _ = exec.LookPath(args[0])
		cmd.Args = args
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	os.RemoveAll(filepath.Join(proj, ".git"))
	host(proj, "git", "init", "-q", "--bare", remote)
	host(proj, "git", "init", "-q")
	host(proj, "git", "-c", "user.name=u", "-c", "user.email=u@e", "commit", "-q", "--allow-empty", "-m", "init")
	host(proj, "git", "remote", "add", "origin", remote)
	host(proj, "git", "push", "-q", "-u", "origin", "HEAD:main")
	host(proj, "git", "branch", "-q", "--set-upstream-to=origin/main")

	r := invocation{as: testUser, dir: proj}.run(t, "run", "-y", "--rw", remote,
		"--env", "GIT_AUTHOR_NAME=a", "--env", "GIT_AUTHOR_EMAIL=a@e", "--env", "GIT_COMMITTER_NAME=a", "--env", "GIT_COMMITTER_EMAIL=a@e",
		"--", "sh", "-c", `set -e
		echo a > a; git add a; git commit -qm a
		git branch feat; git checkout -q feat; echo b > b; git add b; git commit -qm b
		git checkout -q -; git merge -q feat
		echo c > c; git stash -q -u; git stash pop -q
		git pull -q; git push -q origin HEAD:main; git fetch -q
		mkdir sub; (cd sub && git init -q && git commit -q --allow-empty -m sub)
		npm init -y >/dev/null
		echo flow-ok
		set +e
		echo x > .git/hooks/pre-commit 2>/dev/null || echo hooks-refused
		git config core.fsmonitor true 2>/dev/null || echo config-refused
		grep -q 'Why some project files are read-only' ~/.claude/SANDBOX.md && echo sandbox-md-says`)
	mustExit(t, r, 0)
	mustContain(t, r, "flow-ok", "hooks-refused", "config-refused", "sandbox-md-says")
	// The plan shows the protection.
	mustContain(t, r, proj+"/.git/hooks", "git hooks: git runs them on the host", proj+"/.git/config")
	if _, err := os.Stat(filepath.Join(proj, "package.json")); err != nil {
		t.Errorf("npm init -y: %v", err)
	}
	out, _ := exec.Command("git", "--git-dir", remote, "log", "--format=%s", "main").Output()
	if subjects := strings.Fields(string(out)); !slices.Contains(subjects, "a") || !slices.Contains(subjects, "b") {
		t.Errorf("the push did not reach the remote: %q", out)
	}

	// --rw of a protected path lifts it, marked risky in the plan.
	r = invocation{as: testUser, dir: proj}.run(t, "run", "-y", "--rw", ".git/hooks", "--", "sh", "-c", `echo x > .git/hooks/x && echo hooks-writable`)
	mustExit(t, r, 0)
	mustContain(t, r, "hooks-writable", "lifts the read-only protection")
	if !strings.Contains(lineWith(r.stderr, proj+"/.git/hooks"), "!") {
		t.Errorf("the plan does not mark --rw .git/hooks risky:\n%s", r.stderr)
	}
}

// lineWith returns the first line of out that contains s.
func lineWith(out, s string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}
