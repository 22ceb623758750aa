package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
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
		git gc -q 2>/dev/null
		echo flow-ok
		set +e
		mv .git .git.old 2>/dev/null || echo git-pinned
		echo x > .git/commondir 2>/dev/null || echo commondir-refused
		echo x > .git/info/attributes 2>/dev/null || echo info-refused
		grep -q 'Device or resource busy' ~/.claude/SANDBOX.md && echo sandbox-md-pins
		echo x > .git/hooks/pre-commit 2>/dev/null || echo hooks-refused
		git config core.fsmonitor true 2>/dev/null || echo config-refused
		grep -q 'Why some project files are read-only' ~/.claude/SANDBOX.md && echo sandbox-md-says`)
	mustExit(t, r, 0)
	mustContain(t, r, "flow-ok", "hooks-refused", "config-refused", "sandbox-md-says", "git-pinned", "commondir-refused", "info-refused", "sandbox-md-pins")
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

// gitAs runs the real git on the host as a, in dir, with an identity;
// setup steps must succeed.
func gitAs(t *testing.T, a *account, dir string, args ...string) string {
	t.Helper()
	out, err := hostGit(a, dir, args...)
	if err != nil {
		t.Fatalf("host git %v in %s: %v\n%s", args, dir, err, out)
	}
	return out
}

// hostGit runs the real git on the host as a, in dir, as the user would
// after the session: the judge of what a sandbox left.
func hostGit(a *account, dir string, args ...string) (string, error) {
	cmd := invocation{as: a, dir: dir}.command()
	cmd.Path = "/usr/bin/git"
	cmd.Args = append([]string{"git", "-c", "protocol.file.allow=always"}, args...)
	cmd.Env = append(cmd.Env, "GIT_AUTHOR_NAME=u", "GIT_AUTHOR_EMAIL=u@e", "GIT_COMMITTER_NAME=u", "GIT_COMMITTER_EMAIL=u@e")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// gitProject makes a git repository with one commit, outer/p, owned by
// the test user; outer holds nothing else.
func gitProject(t *testing.T) (outer, proj string) {
	t.Helper()
	outer = outsideDir(t, testUser)
	proj = filepath.Join(outer, "p")
	gitAs(t, testUser, outer, "init", "-q", proj)
	gitAs(t, testUser, proj, "commit", "-q", "--allow-empty", "-m", "init")
	return outer, proj
}

// hostClaude runs the real Claude Code on the host as the test user, in
// dir, as the user would after the session: `claude -p`, with a home of
// its own, in a network namespace with nothing in it (the API is
// unreachable; the session starts, and its SessionStart hooks run,
// before the first request). It is stopped after a few seconds.
func hostClaude(t *testing.T, dir string) {
	t.Helper()
	claude := realClaude(t)
	home := outsideDir(t, testUser)
	cmd := invocation{as: testUser, dir: dir}.command()
	cmd.Path = claude
	cmd.Args = []string{"claude", "-p", "hi"}
	cmd.Env = []string{"HOME=" + home, "CLAUDE_CODE_TMPDIR=" + home, "PATH=" + filepath.Dir(claude) + ":/usr/bin:/bin",
		"ANTHROPIC_API_KEY=sk-ant-test", "ANTHROPIC_BASE_URL=http://127.0.0.1:9", "DISABLE_AUTOUPDATER=1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1"}
	cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWNET
	cmd.SysProcAttr.Setpgid = true
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the real Claude Code on the host: %v", err)
	}
	stop := time.AfterFunc(5*time.Second, func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	defer stop.Stop()
	err := cmd.Wait()
	t.Logf("host claude -p in %s: %v\n%s", dir, err, out.String())
}

// writeAs writes a file as a (mode 0755 for a hook), making its parents.
func writeAs(t *testing.T, a *account, path, content string) {
	t.Helper()
	if err := writeOwned(a, path, content); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o755)
}

// pinAttack is one way a sandbox could get a command of its own run by
// the host's git, tried once with the protection and once with it lifted
// (--rw of a directory holding the project): MARK in attack is replaced by
// a marker file the planted command creates on the host.
type pinAttack struct {
	name string
	// layout prepares the project (a git repository with one commit,
	// in outer/p) on the host; it returns the directory to launch in.
	layout func(t *testing.T, outer, proj string) string
	attack string
	// judge is what the user does on the host afterwards, in the launch
	// directory: git commands, or with claude, the real Claude Code.
	judge  [][]string
	claude bool
}

const fsmon = `printf '[core]\n\trepositoryformatversion = 0\n\tfsmonitor = touch MARK; false\n'`

var (
	gitStatus = [][]string{{"status", "--short"}}
	gitCommit = [][]string{{"status", "--short"}, {"commit", "-q", "--allow-empty", "-m", "after the sandbox"}}
)

// withSubmodule adds a submodule at sub (its git directory in
// .git/modules/sub).
func withSubmodule(t *testing.T, outer, proj string) string {
	src := filepath.Join(outer, "subsrc")
	gitAs(t, testUser, outer, "init", "-q", src)
	gitAs(t, testUser, src, "commit", "-q", "--allow-empty", "-m", "sub")
	gitAs(t, testUser, proj, "submodule", "add", "-q", src, "sub")
	gitAs(t, testUser, proj, "commit", "-qm", "add sub")
	return proj
}

var pinAttacks = []pinAttack{
	{name: "rename .git around the binds", attack: `mv .git .git.old || echo rename-refused
		if [ -d .git.old ]; then mkdir .git && cp -r .git.old/objects .git.old/refs .git.old/HEAD .git/ && ` + fsmon + ` > .git/config; fi`,
		judge: gitStatus},
	{name: "rename .claude", layout: func(t *testing.T, outer, proj string) string {
		writeAs(t, testUser, filepath.Join(proj, ".claude/settings.json"), "{}\n")
		return proj
	}, attack: `mv .claude .claude.old || echo rename-refused
		mkdir -p .claude && printf '{"hooks":{"SessionStart":[{"hooks":[{"type":"command","command":"touch MARK"}]}]}}' > .claude/settings.json || echo settings-refused`,
		claude: true},
	{name: "rename .git/modules/X", layout: withSubmodule, attack: `m=.git/modules/sub
		mv $m $m.old || echo rename-refused
		if [ -d $m.old ]; then cp -r $m.old $m && chmod u+w $m/config && ` + fsmon + ` >> $m/config; fi
		` + fsmon + ` >> $m/config || echo config-refused`,
		judge: [][]string{{"status", "--short"}, {"-C", "sub", "status", "--short"}}},
	{name: "write .git/commondir", attack: `git init -q --bare evil && ` + fsmon + ` > evil/config && cp -r .git/objects .git/refs evil/
		echo ../evil > .git/commondir || echo commondir-refused`,
		judge: gitStatus},
	{name: "create .git/config.worktree", layout: func(t *testing.T, outer, proj string) string {
		gitAs(t, testUser, proj, "config", "extensions.worktreeConfig", "true")
		return proj
	}, attack: fsmon + ` > .git/config.worktree || echo refused`, judge: gitStatus},
	{name: "husky: core.hooksPath .husky", layout: func(t *testing.T, outer, proj string) string {
		writeAs(t, testUser, filepath.Join(proj, ".husky/pre-commit"), "#!/bin/sh\necho husky ran\n")
		gitAs(t, testUser, proj, "config", "core.hooksPath", ".husky")
		return proj
	}, attack: `printf '#!/bin/sh\ntouch MARK\n' > .husky/pre-commit || echo hook-refused
		mv .husky .husky.old || echo rename-refused
		mkdir -p .husky && printf '#!/bin/sh\ntouch MARK\n' > .husky/pre-commit && chmod +x .husky/pre-commit`,
		judge: gitCommit},
	{name: "include.path into the tree", layout: func(t *testing.T, outer, proj string) string {
		gitAs(t, testUser, proj, "config", "include.path", "../.gitconfig.local")
		return proj
	}, attack: fsmon + ` > .gitconfig.local || echo include-refused`, judge: gitStatus},
	{name: "linked worktree: its .git file and git directory", layout: func(t *testing.T, outer, proj string) string {
		wt := filepath.Join(outer, "wt")
		gitAs(t, testUser, proj, "worktree", "add", "-q", wt)
		return wt
	}, attack: `w=$(git rev-parse --git-dir)
		mv "$w" "$w.old" || echo rename-refused
		echo ../evil > "$w/commondir" || echo commondir-refused
		git init -q evil && ` + fsmon + ` > evil/.git/config && cp -r "$(git rev-parse --git-common-dir)/objects" evil/.git/
		echo "gitdir: $PWD/evil/.git" > .git || echo gitfile-refused`,
		judge: gitStatus},
	{name: "submodule: its .git file", layout: withSubmodule, attack: `git init -q evil && ` + fsmon + ` > evil/.git/config
		echo "gitdir: $PWD/evil/.git" > sub/.git || echo gitfile-refused`,
		judge: [][]string{{"status", "--short"}, {"-C", "sub", "status", "--short"}}},
}

// TestPinnedProtection: each way around the read-only binds, tried inside,
// then judged by the host's real git run as the user: nothing planted
// runs. The positive control: the same attack with every protection
// lifted (--rw of a directory holding the project) does run the planted
// command at the host's next git, so the judge can see it.
func TestPinnedProtection(t *testing.T) {
	needSuite(t)
	resetClaudeState(t)
	for i, a := range pinAttacks {
		t.Run(a.name, func(t *testing.T) {
			for _, lifted := range []bool{false, true} {
				outer, proj := gitProject(t)
				dir := proj
				if a.layout != nil {
					dir = a.layout(t, outer, proj)
				}
				mark := fmt.Sprintf("/tmp/cb-pin-%d-%d-%t", os.Getpid(), i, lifted)
				os.Remove(mark)
				t.Cleanup(func() { os.Remove(mark) })
				args := []string{"run", "-q", "-y"}
				if lifted {
					args = append(args, "--rw", outer)
				}
				script := strings.ReplaceAll(a.attack, "MARK", mark)
				r := invocation{as: testUser, dir: dir}.run(t, append(args, "--", "sh", "-c", script+"\necho attack-ran")...)
				mustExit(t, r, 0)
				mustContain(t, r, "attack-ran")
				if a.claude {
					hostClaude(t, dir)
				}
				for _, j := range a.judge {
					out, err := hostGit(testUser, dir, j...)
					t.Logf("lifted=%t: host git %v: %v\n%s", lifted, j, err, out)
					if !lifted && err != nil {
						t.Errorf("the host's git %v fails after the session: %v\n%s", j, err, out)
					}
				}
				_, err := os.Stat(mark)
				switch {
				case lifted && err != nil:
					t.Errorf("positive control: with the protection lifted, the planted command did not run at the host's git (the judge sees nothing)\n%s", r)
				case !lifted && err == nil:
					t.Errorf("the planted command ran on the host\n%s", r)
				}
			}
		})
	}
}

// TestProtectionCapFailsClosed: more entries in .git/worktrees than
// claudebox looks at refuses the next launch, naming the path, the cap
// and the fix; the fix (or --rw of it) launches again.
func TestProtectionCapFailsClosed(t *testing.T) {
	needSuite(t)
	resetClaudeState(t)
	_, proj := gitProject(t)
	in := invocation{as: testUser, dir: proj}
	r := in.run(t, "run", "-q", "-y", "--", "sh", "-c", `mkdir -p .git/worktrees && seq -f ".git/worktrees/w%g" 0 4096 | xargs mkdir && echo planted`)
	mustExit(t, r, 0)
	mustContain(t, r, "planted")
	r = in.run(t, "run", "-q", "-y", "--", "sh", "-c", "echo launched")
	if r.code == 0 || strings.Contains(r.stdout, "launched") {
		t.Fatalf("launched with 4097 entries in .git/worktrees:\n%s", r)
	}
	mustContain(t, r, proj+"/.git/worktrees", "4096", "git worktree prune", "--rw "+proj+"/.git/worktrees")
	// The review at the end of the planting session could not look at
	// 4097 entries either: it stays pending, and launches refuse, even
	// with --rw of the directory, until the entries are gone and the user,
	// having looked, acknowledges it.
	r = in.run(t, "run", "-q", "-y", "--rw", ".git/worktrees", "--", "sh", "-c", "echo launched")
	if r.code == 0 || strings.Contains(r.stdout, "launched") {
		t.Fatalf("launched with the review pending:\n%s", r)
	}
	mustContain(t, r, "claudebox review --incomplete-ok")
	gitAs(t, testUser, proj, "worktree", "prune")
	mustExit(t, in.run(t, "review", "--incomplete-ok"), 0)
	r = in.run(t, "run", "-q", "-y", "--", "sh", "-c", "echo launched")
	mustExit(t, r, 0)
	mustContain(t, r, "launched")
}

// TestProtectedGitFlowWorktreeSubmodule: with everything pinned and
// read-only, git still works inside a linked worktree and in a
// submodule, and the host's git is fine after.
func TestProtectedGitFlowWorktreeSubmodule(t *testing.T) {
	needSuite(t)
	resetClaudeState(t)
	outer, proj := gitProject(t)
	withSubmodule(t, outer, proj)
	wt := filepath.Join(outer, "wt")
	gitAs(t, testUser, proj, "worktree", "add", "-q", wt)
	env := []string{"--env", "GIT_AUTHOR_NAME=a", "--env", "GIT_AUTHOR_EMAIL=a@e", "--env", "GIT_COMMITTER_NAME=a", "--env", "GIT_COMMITTER_EMAIL=a@e"}

	r := invocation{as: testUser, dir: proj}.run(t, append(append([]string{"run", "-y"}, env...), "--", "sh", "-c", `set -e
		cd sub; echo s > s; git add s; git commit -qm s; git checkout -qb sb; git checkout -q -; git stash list; cd ..
		git add sub; git commit -qm "bump sub"; git submodule status >/dev/null
		git gc -q 2>/dev/null
		echo flow-ok
		mv .git/modules/sub .git/modules/s2 2>/dev/null || echo module-pinned
		echo x > sub/.git 2>/dev/null || echo gitfile-refused`)...)
	mustExit(t, r, 0)
	mustContain(t, r, "flow-ok", "module-pinned", "gitfile-refused", "pinned", proj+"/.git/modules/sub/config")

	r = invocation{as: testUser, dir: wt}.run(t, append(append([]string{"run", "-y"}, env...), "--", "sh", "-c", `set -e
		echo w > w; git add w; git commit -qm w; git checkout -qb wb; git checkout -q -; echo x > x; git stash -q -u; git stash pop -q
		echo flow-ok
		echo x > .git 2>/dev/null || echo gitfile-refused
		w=$(git rev-parse --git-dir); mv "$w" "$w.old" 2>/dev/null || echo gitdir-pinned`)...)
	mustExit(t, r, 0)
	mustContain(t, r, "flow-ok", "gitfile-refused", "gitdir-pinned")
	for _, d := range []string{proj, wt, filepath.Join(proj, "sub")} {
		gitAs(t, testUser, d, "status", "--short")
		gitAs(t, testUser, d, "commit", "-q", "--allow-empty", "-m", "host after")
	}
	if log := gitAs(t, testUser, wt, "log", "--format=%s", "-3"); !strings.Contains(log, "w") {
		t.Errorf("the worktree's commit is not there:\n%s", log)
	}
}
