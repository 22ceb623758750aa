package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The review at the end of a session holds what the session planted for
// a host tool; the real host tool, run as the user afterwards, does not
// run it; `claudebox accept` makes the same tool run it (the positive
// control: the judge sees it).

// hostTool runs a program as the user on the host, in dir; it returns
// the combined output. fails: a non-zero exit fails the test.
func hostTool(t *testing.T, dir string, fails bool, args ...string) string {
	t.Helper()
	cmd := invocation{as: testUser, dir: dir}.command()
	var err error
	if cmd.Path, err = exec.LookPath(args[0]); err != nil {
		t.Fatal(err)
	}
	cmd.Args = args
	out, err := cmd.CombinedOutput()
	if err != nil && fails {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	return string(out)
}

// gitProject makes a project with a git repository of one commit, made
// on the host.
func reviewProject(t *testing.T) string {
	t.Helper()
	proj := newProject(t, testUser)
	os.RemoveAll(filepath.Join(proj, ".git"))
	hostTool(t, proj, true, "git", "init", "-q")
	hostTool(t, proj, true, "git", "-c", "user.name=u", "-c", "user.email=u@e", "commit", "-q", "--allow-empty", "-m", "init")
	return proj
}

// plantNestedRepo is a shell script that makes a nested repository whose
// config runs core.fsmonitor (touching marker), recorded in the
// superproject as a gitlink with no .gitmodules.
func plantNestedRepo(marker string) string { return plantNestedRepoAt(marker, "sub") }

// plantNestedRepoAt is plantNestedRepo at dir, a path from the current
// directory, which must be the work tree's top.
func plantNestedRepoAt(marker, dir string) string {
	return `set -e
	git init -q ` + dir + `
	git -C ` + dir + ` config core.fsmonitor "touch ` + marker + `; true"
	git -C ` + dir + ` -c user.name=a -c user.email=a@e commit -q --allow-empty -m sub
	git update-index --add --cacheinfo 160000,$(git -C ` + dir + ` rev-parse HEAD),` + dir + `
	echo planted`
}

func TestReviewNestedRepo(t *testing.T) {
	needSuite(t)
	resetClaudeState(t)
	proj := reviewProject(t)
	marker := filepath.Join(outsideDir(t, testUser), "fsmonitor-ran")
	in := invocation{as: testUser, dir: proj}
	r := in.run(t, "run", "-q", "--", "sh", "-c", plantNestedRepo(marker))
	mustExit(t, r, 0)
	mustContain(t, r, "planted", "held for your review", proj+"/sub/.git/config", "core.fsmonitor = touch "+marker)
	if !exists(filepath.Join(proj, "sub/.git/config.claudebox-held")) {
		t.Errorf("the session's sub/.git/config is not kept beside it")
	}
	// The user's next git status, in the project and in the nested
	// repository, does not run it.
	hostTool(t, proj, true, "git", "status")
	hostTool(t, filepath.Join(proj, "sub"), true, "git", "status")
	if exists(marker) {
		t.Fatal("the host's git status ran the fsmonitor a session planted in a nested repository")
	}
	r = in.run(t, "ls")
	mustContain(t, r, "1 held")
	r = in.run(t, "review")
	mustExit(t, r, 0)
	mustContain(t, r, proj+"/sub/.git/config", "would run: core.fsmonitor = touch "+marker, "claudebox accept "+proj+"/sub/.git/config")

	// Positive control: accepted, the same git status runs it.
	r = in.run(t, "accept", "sub/.git/config")
	mustExit(t, r, 0)
	hostTool(t, proj, true, "git", "status")
	if !exists(marker) {
		t.Fatal("accepted, the planted fsmonitor still did not run: the judge cannot see it")
	}
	r = in.run(t, "review")
	mustContain(t, r, "nothing held")
}

// A launcher killed mid-session leaves the review to the next launch.
func TestReviewAfterKilledLauncher(t *testing.T) {
	needSuite(t)
	resetClaudeState(t)
	proj := reviewProject(t)
	marker := filepath.Join(outsideDir(t, testUser), "fsmonitor-ran")
	ready := filepath.Join(proj, "ready")
	in := invocation{as: testUser, dir: proj}
	cmd := in.command("run", "-q", "--", "sh", "-c", plantNestedRepo(marker)+"\n touch ready; sleep 60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killAtEnd(t, cmd)
	for deadline := time.Now().Add(30 * time.Second); !exists(ready); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the session did not plant")
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if !exists(filepath.Join(proj, "sub/.git/config")) {
		t.Fatal("the planted config is gone before any review: the test plants nothing")
	}
	r := in.run(t, "ls")
	mustContain(t, r, "review pending")

	r = in.run(t, "run", "-q", "--", "true")
	mustExit(t, r, 0)
	mustContain(t, r, "held for your review", proj+"/sub/.git/config", "core.fsmonitor")
	hostTool(t, proj, true, "git", "status")
	if exists(marker) {
		t.Fatal("after the next launch, the host's git status ran what the killed session planted")
	}
	r = in.run(t, "accept", filepath.Join(proj, "sub/.git/config"))
	mustExit(t, r, 0)
	hostTool(t, proj, true, "git", "status")
	if !exists(marker) {
		t.Fatal("accepted, the planted fsmonitor did not run")
	}
}

// hostClaude runs the real Claude Code on the host, as the user, in dir,
// with no network (it fails at its first request, after the session's
// start: SessionStart hooks and MCP servers have run by then).
func reviewHostClaude(t *testing.T, claude, dir string) string {
	t.Helper()
	in := invocation{as: testUser, dir: dir, env: []string{
		"PATH=" + filepath.Dir(claude) + ":/usr/bin:/bin", "ANTHROPIC_API_KEY=" + apiKey,
		"DISABLE_AUTOUPDATER=1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", "CLAUDE_CODE_MAX_RETRIES=0",
	}}
	cmd := in.command()
	cmd.Path = "/usr/bin/timeout"
	cmd.Args = []string{"timeout", "60", claude, "-p", "hi"}
	cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWNET
	out, _ := cmd.CombinedOutput()
	return string(out)
}

func TestReviewClaudeAndEditorSettings(t *testing.T) {
	needSuite(t)
	claude := realClaude(t)
	resetClaudeState(t)
	proj := reviewProject(t)
	out := outsideDir(t, testUser)
	m := func(n string) string { return filepath.Join(out, n) }
	hook := func(marker string) string {
		return `{"type":"command","command":"touch ` + marker + `"}`
	}
	files := map[string]string{
		".claude/settings.json":       `{"hooks":{"SessionStart":[{"hooks":[` + hook(m("settings-hook")) + `]}]}}`,
		".claude/settings.local.json": `{"permissions":{"allow":["Bash(ls)"]},"hooks":{"SessionStart":[{"hooks":[` + hook(m("local-hook")) + `]}]},"statusLine":` + hook(m("status-line")) + `,"enableAllProjectMcpServers":true}`,
		".mcp.json":                   `{"mcpServers":{"planted":{"command":"sh","args":["-c","touch ` + m("mcp-server") + `"]}}}`,
		".vscode/tasks.json":          `{"version":"2.0.0","tasks":[{"label":"x","type":"shell","command":"touch ` + m("task") + `","runOptions":{"runOn":"folderOpen"}}]}`,
	}
	var script strings.Builder
	script.WriteString("set -e; mkdir -p .claude .vscode\n")
	for name, content := range files {
		script.WriteString("cat > " + name + " <<'EOF'\n" + content + "\nEOF\n")
	}
	script.WriteString("echo planted\n")
	in := invocation{as: testUser, dir: proj}
	r := in.run(t, "run", "-q", "--", "sh", "-c", script.String())
	mustExit(t, r, 0)
	mustContain(t, r, "planted", "held for your review", "SessionStart", "statusLine", "enableAllProjectMcpServers", "MCP server planted", "folderOpen")
	for name := range files {
		if exists(filepath.Join(proj, name)) {
			t.Errorf("%s, new in the session, is still in place", name)
		}
		if b, err := os.ReadFile(filepath.Join(proj, name+".claudebox-held")); err != nil || strings.TrimSpace(string(b)) != files[name] {
			t.Errorf("the session's %s is not kept beside it: %q %v", name, b, err)
		}
	}
	mustNotContain(t, r, "Bash(ls)") // data is not shown as what would run
	got := reviewHostClaude(t, claude, proj)
	for _, n := range []string{"settings-hook", "local-hook", "mcp-server"} {
		if exists(m(n)) {
			t.Fatalf("the host's claude ran %s, which the session planted\n%s", n, got)
		}
	}

	// Positive control: accepted, the same claude runs them.
	for _, name := range []string{".claude/settings.json", ".claude/settings.local.json", ".mcp.json", ".vscode/tasks.json"} {
		r := in.run(t, "accept", name)
		mustExit(t, r, 0)
		if b, err := os.ReadFile(filepath.Join(proj, name)); err != nil || strings.TrimSpace(string(b)) != files[name] {
			t.Errorf("accepted %s is not the session's: %q %v", name, b, err)
		}
	}
	got = reviewHostClaude(t, claude, proj)
	for _, n := range []string{"settings-hook", "local-hook", "mcp-server"} {
		if !exists(m(n)) {
			t.Errorf("accepted, the host's claude did not run %s: the judge cannot see it\n%s", n, got)
		}
	}
}

// The normal flow holds nothing: real git against a bare remote, a new
// subproject, npm with a local package, Claude's permission rules.
func TestReviewNormalFlowHoldsNothing(t *testing.T) {
	needSuite(t)
	resetClaudeState(t)
	proj := reviewProject(t)
	remote := filepath.Join(outsideDir(t, testUser), "remote.git")
	hostTool(t, proj, true, "git", "init", "-q", "--bare", remote)
	hostTool(t, proj, true, "git", "remote", "add", "origin", remote)
	hostTool(t, proj, true, "git", "push", "-q", "-u", "origin", "HEAD:main")
	hostTool(t, proj, true, "git", "branch", "-q", "--set-upstream-to=origin/main")
	in := invocation{as: testUser, dir: proj}
	r := in.run(t, "run", "-q", "--rw", remote,
		"--env", "GIT_AUTHOR_NAME=a", "--env", "GIT_AUTHOR_EMAIL=a@e", "--env", "GIT_COMMITTER_NAME=a", "--env", "GIT_COMMITTER_EMAIL=a@e",
		"--", "sh", "-c", `set -e
		echo a > a; git add a; git commit -qm a
		git branch feat; git checkout -q feat; echo b > b; git add b; git commit -qm b
		git checkout -q -; git merge -q feat
		echo c > c; git stash -q -u; git stash pop -q
		git pull -q; git push -q origin HEAD:main; git fetch -q
		mkdir sub; (cd sub && git init -q && git commit -q --allow-empty -m sub)
		git clone -q "`+remote+`" cloned
		npm init -y >/dev/null
		mkdir lib; (cd lib && npm init -y >/dev/null)
		npm install --offline --no-audit --no-fund ./lib >/dev/null
		mkdir -p .claude; echo '{"permissions":{"allow":["Bash(npm test:*)"]}}' > .claude/settings.local.json
		echo flow-ok`)
	mustExit(t, r, 0)
	mustContain(t, r, "flow-ok")
	mustNotContain(t, r, "held for your review", "could not look at everything")
	if !exists(filepath.Join(proj, "node_modules/lib")) || !exists(filepath.Join(proj, "sub/.git/config")) || !exists(filepath.Join(proj, "cloned/.git/config")) {
		t.Error("the flow did not leave what it made")
	}
	if b, _ := os.ReadFile(filepath.Join(proj, ".claude/settings.local.json")); !strings.Contains(string(b), "Bash(npm test:*)") {
		t.Errorf("Claude's permission rule did not stay: %q", b)
	}
	r = in.run(t, "review")
	mustContain(t, r, "nothing held")
	r = in.run(t, "ls")
	mustNotContain(t, r, "held", "review pending")
	// The same, a second session: what the first made is known.
	r = in.run(t, "run", "-q", "--", "sh", "-c", "echo d > sub/d; (cd sub && git add d && git -c user.name=a -c user.email=a@e commit -qm d); echo again-ok")
	mustExit(t, r, 0)
	mustContain(t, r, "again-ok")
	mustNotContain(t, r, "held for your review")
}

// permissionTool is an MCP server for --permission-prompt-tool that
// answers every permission prompt as a user who picks "Yes, and don't ask
// again" does: allowed, with a rule for the project's local settings.
const permissionTool = `import json, sys
def send(m):
    sys.stdout.write(json.dumps(m) + "\n"); sys.stdout.flush()
for line in sys.stdin:
    m = json.loads(line)
    mid, meth = m.get("id"), m.get("method")
    if meth == "initialize":
        send({"jsonrpc": "2.0", "id": mid, "result": {"protocolVersion": m["params"].get("protocolVersion", "2024-11-05"), "capabilities": {"tools": {}}, "serverInfo": {"name": "perm", "version": "1"}}})
    elif meth == "tools/list":
        send({"jsonrpc": "2.0", "id": mid, "result": {"tools": [{"name": "approve", "description": "approve", "inputSchema": {"type": "object", "properties": {"tool_name": {"type": "string"}, "input": {"type": "object"}}}}]}})
    elif meth == "tools/call":
        args = m["params"].get("arguments", {})
        ans = {"behavior": "allow", "updatedInput": args.get("input", {}), "updatedPermissions": [{"type": "addRules", "rules": [{"toolName": "Bash", "ruleContent": "echo made-by-claude:*"}], "behavior": "allow", "destination": "localSettings"}]}
        send({"jsonrpc": "2.0", "id": mid, "result": {"content": [{"type": "text", "text": json.dumps(ans)}]}})
    elif mid is not None:
        send({"jsonrpc": "2.0", "id": mid, "result": {}})
`

// TestReviewRealClaudePermissionChoice: the real Claude Code, in the
// sandbox, against a scripted Messages API, asks to run Bash; the answer
// is "allow, and don't ask again", which Claude records in
// .claude/settings.local.json. That is data: nothing is held.
func TestReviewRealClaudePermissionChoice(t *testing.T) {
	needSuite(t)
	claude := realClaude(t)
	resetClaudeState(t)
	proj := worldProject(t, testUser) // with testpeer, which plays the API
	for name, content := range map[string]string{
		"perm.py":       permissionTool,
		"perm-mcp.json": `{"mcpServers":{"perm":{"command":"python3","args":["perm.py"]}}}`,
	} {
		if err := os.WriteFile(filepath.Join(proj, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chown(filepath.Join(proj, name), testUser.uid, testUser.gid)
	}
	in := invocation{as: testUser, dir: proj, env: []string{"PATH=" + filepath.Dir(claude) + ":/usr/bin:/bin"}}
	r := in.run(t, "run", "-q", "--network", "none",
		"--env", "ANTHROPIC_BASE_URL=http://127.0.0.1:18089", "--env", "ANTHROPIC_API_KEY="+apiKey,
		"--env", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", "--env", "DISABLE_AUTOUPDATER=1",
		"--", "sh", "-c", `./testpeer serve -messages 127.0.0.1:18089 127.0.0.1:18090 >/dev/null & sleep 0.5
		timeout 50 claude -p "Write the file, please" --mcp-config perm-mcp.json --permission-prompt-tool mcp__perm__approve`)
	mustExit(t, r, 0)
	mustContain(t, r, "ALL-DONE-7")
	if b, err := os.ReadFile(filepath.Join(proj, "from-claude.txt")); err != nil || strings.TrimSpace(string(b)) != "made-by-claude" {
		t.Errorf("the tool Claude ran did not write the project: %q %v\n%s", b, err, r)
	}
	b, err := os.ReadFile(filepath.Join(proj, ".claude/settings.local.json"))
	if err != nil || !strings.Contains(string(b), "Bash(echo made-by-claude:*)") {
		t.Fatalf("Claude did not record the permission choice: %q %v\n%s", b, err, r)
	}
	mustNotContain(t, r, "held for your review")
	if exists(filepath.Join(proj, ".claude/settings.local.json.claudebox-held")) {
		t.Error("Claude's permission choice was held")
	}
}

// The same in a linked worktree (whose instance and review are its main
// worktree's), and in a submodule's work tree.
func TestReviewNestedRepoInWorktreeAndSubmodule(t *testing.T) {
	needSuite(t)
	resetClaudeState(t)
	main := reviewProject(t)
	wt := filepath.Join(outsideDir(t, testUser), "wt")
	hostTool(t, main, true, "git", "worktree", "add", "-q", "-b", "feat", wt)
	subRemote := filepath.Join(outsideDir(t, testUser), "subremote")
	hostTool(t, main, true, "git", "init", "-q", subRemote)
	hostTool(t, subRemote, true, "git", "-c", "user.name=u", "-c", "user.email=u@e", "commit", "-q", "--allow-empty", "-m", "s")
	hostTool(t, main, true, "git", "-c", "protocol.file.allow=always", "submodule", "add", "-q", subRemote, "sub")

	for _, c := range []struct{ name, project, dir string }{
		{"worktree", wt, wt},
		{"submodule", main, filepath.Join(main, "sub")},
	} {
		t.Run(c.name, func(t *testing.T) {
			marker := filepath.Join(outsideDir(t, testUser), "fsmonitor-ran")
			in := invocation{as: testUser, dir: c.dir}
			r := in.run(t, "run", "-q", "--project", c.project, "--", "sh", "-c", plantNestedRepo(marker))
			mustExit(t, r, 0)
			held := filepath.Join(c.dir, "sub/.git/config")
			mustContain(t, r, "planted", "held for your review", held, "core.fsmonitor")
			hostTool(t, c.dir, true, "git", "status")
			if exists(marker) {
				t.Fatal("the host's git status ran the fsmonitor a session planted in a nested repository")
			}
			r = in.run(t, "accept", held)
			mustExit(t, r, 0)
			hostTool(t, c.dir, true, "git", "status")
			if !exists(marker) {
				t.Fatal("accepted, the planted fsmonitor did not run")
			}
		})
	}
}

// What the sandbox makes unreadable or unwritable is still reviewed and
// held: the user's own directories get the user's rwx back, said.
func TestReviewThroughPermissions(t *testing.T) {
	needSuite(t)
	resetClaudeState(t)
	proj := reviewProject(t)
	marker := filepath.Join(outsideDir(t, testUser), "fsmonitor-ran")
	in := invocation{as: testUser, dir: proj}
	r := in.run(t, "run", "-q", "--", "sh", "-c", `set -e
	mkdir a
	`+plantNestedRepoAt(marker, "a/sub")+`
	chmod 555 a/sub/.git; chmod 000 a`)
	mustExit(t, r, 0)
	mustContain(t, r, "planted", "was mode 0000: made 0700", "held for your review", proj+"/a/sub/.git/config")
	hostTool(t, proj, true, "git", "status")
	if exists(marker) {
		t.Fatal("the host's git status ran the fsmonitor a session planted behind permissions")
	}
	r = in.run(t, "accept", filepath.Join(proj, "a/sub/.git/config"))
	mustExit(t, r, 0)
	hostTool(t, proj, true, "git", "status")
	if !exists(marker) {
		t.Fatal("accepted, the planted fsmonitor did not run")
	}
}

// What the user changes on the host, in a path shown read-only inside,
// during a session, is the user's own: not held. (An IDE open on the
// project writes .idea and .vscode while Claude works.)
func TestReviewPassesHostEditsOfReadOnlyPaths(t *testing.T) {
	needSuite(t)
	resetClaudeState(t)
	proj := reviewProject(t)
	settings := filepath.Join(proj, ".vscode/settings.json")
	if err := writeOwned(testUser, settings, `{}`); err != nil {
		t.Fatal(err)
	}
	in := invocation{as: testUser, dir: proj}
	cmd := in.command("run", "-q", "--", "sh", "-c", "touch ready; while [ ! -e go ]; do sleep 0.05; done; echo session-done")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killAtEnd(t, cmd)
	for deadline := time.Now().Add(30 * time.Second); !exists(filepath.Join(proj, "ready")); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the session did not start")
		}
	}
	// The host's editor writes its settings in place.
	if err := os.WriteFile(settings, []byte(`{"python.defaultInterpreterPath":"/usr/bin/python3"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeOwned(testUser, filepath.Join(proj, "go"), ""); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "session-done") || strings.Contains(out.String(), "held for your review") {
		t.Errorf("the host's own edit was held, or the session did not run:\n%s", out.String())
	}
	if b, _ := os.ReadFile(settings); !strings.Contains(string(b), "defaultInterpreterPath") {
		t.Errorf("the host's own edit was undone: %q", b)
	}
}

// reviewCommit is a commit with a fixed identity (the test user's git has none).
const reviewCommit = `git -c user.name=a -c user.email=a@e commit -q`

// redirections are plants a security review used to reach a host tool
// past the review, each through git's own redirections: MARKER is what
// the planted command touches; dir and host the user's git on the host
// afterwards (B2's core.pager runs only on a terminal: script gives one).
var redirections = []struct {
	name, plant, dir string
	host             []string
}{
	{"A worktree-like gitdir whose commondir leads to a config with no HEAD", `set -e
	git init -q sub; (cd sub && ` + reviewCommit + ` --allow-empty -m s); SHA=$(git -C sub rev-parse HEAD)
	mkdir -p y/worktrees/w; mv sub/.git/objects sub/.git/refs y/; mv sub/.git/HEAD y/worktrees/w/
	echo ../.. > y/worktrees/w/commondir
	rm -rf sub/.git; echo "gitdir: ../y/worktrees/w" > sub/.git
	printf '[core]\n\trepositoryformatversion = 0\n\tbare = false\n\tfsmonitor = "echo ran >> MARKER; false"\n' > y/config
	git update-index --add --cacheinfo 160000,$SHA,sub
	echo planted`, ".", []string{"git", "status"}},
	{"H gitfile names a link into another .git directory", `set -e
	git init -q sub; (cd sub && ` + reviewCommit + ` --allow-empty -m s); SHA=$(git -C sub rev-parse HEAD)
	mkdir -p other/.git; mv sub/.git other/.git/evil
	ln -s ../other/.git/evil sub/l; echo "gitdir: l" > sub/.git
	printf '[core]\n\trepositoryformatversion = 0\n\tbare = false\n\tfsmonitor = "echo ran >> MARKER; false"\n' > other/.git/evil/config
	git update-index --add --cacheinfo 160000,$SHA,sub
	echo planted`, ".", []string{"git", "status"}},
	{"H2 gitfile with .. after a link", `set -e
	git init -q sub; (cd sub && ` + reviewCommit + ` --allow-empty -m s); SHA=$(git -C sub rev-parse HEAD)
	mkdir -p deep/.git; mv sub/.git deep/.git/evil
	ln -s ../deep/.git/evil/objects sub/l; echo "gitdir: l/.." > sub/.git
	printf '[core]\n\trepositoryformatversion = 0\n\tbare = false\n\tfsmonitor = "echo ran >> MARKER; false"\n' > deep/.git/evil/config
	git update-index --add --cacheinfo 160000,$SHA,sub
	echo planted`, ".", []string{"git", "status"}},
	{"M two-line gitfile", `set -e
	git init -q sub; (cd sub && ` + reviewCommit + ` --allow-empty -m s); SHA=$(git -C sub rev-parse HEAD)
	D="sub/$(printf 'x\ny')/.git"; mkdir -p "$D"; mv sub/.git "$D/evil"
	printf '[core]\n\trepositoryformatversion = 0\n\tbare = false\n\tfsmonitor = "echo ran >> MARKER; false"\n' > "$D/evil/config"
	printf 'gitdir: x\ny/.git/evil\n' > sub/.git
	git update-index --add --cacheinfo 160000,$SHA,sub
	echo planted`, ".", []string{"git", "status"}},
	{"R hooks is a link to a plain directory", `set -e
	git init -q n; mkdir -p tools/githooks
	printf '#!/bin/sh\necho ran >> MARKER\n' > tools/githooks/pre-commit; chmod 755 tools/githooks/pre-commit
	rm -rf n/.git/hooks; ln -s ../../tools/githooks n/.git/hooks
	echo planted`, "n", []string{"sh", "-c", "echo x > f && git add f && " + reviewCommit + " -m x"}},
	{"B2 a directory becomes a git directory by HEAD and commondir", `set -e
	mkdir -p .cache/c/objects .cache/c/refs/heads; cp -r .git/objects/. .cache/c/objects/
	git rev-parse HEAD > .cache/c/refs/heads/main
	echo 'ref: refs/heads/main' > src/HEAD; echo ../.cache/c > src/commondir
	printf '[core]\n\trepositoryformatversion = 0\n\tpager = "echo ran >> MARKER; cat"\n' > .cache/c/config
	echo planted`, "src", []string{"script", "-qc", "git log --oneline", "/dev/null"}},
}

// TestReviewRedirections: each plant, made in a session, is held: the
// user's git on the host does not run it. Positive control: the same
// plant made on the host (no sandbox, no review) is run by the same git.
func TestReviewRedirections(t *testing.T) {
	needSuite(t)
	for _, c := range redirections {
		t.Run(strings.Fields(c.name)[0], func(t *testing.T) {
			resetClaudeState(t)
			project := func() string {
				proj := reviewProject(t)
				hostTool(t, proj, true, "sh", "-c", "mkdir src && echo 'int a;' > src/a.c && git add src && "+reviewCommit+" -m src")
				return proj
			}
			marker := filepath.Join(outsideDir(t, testUser), "ran")
			plant := strings.ReplaceAll(c.plant, "MARKER", marker)
			proj := project()
			in := invocation{as: testUser, dir: proj}
			r := in.run(t, "run", "-q", "--", "sh", "-c", plant)
			mustExit(t, r, 0)
			mustContain(t, r, "planted", "held for your review")
			hostTool(t, filepath.Join(proj, c.dir), false, c.host...)
			if exists(marker) {
				t.Fatalf("the host's %v ran what a session planted (%s)\n%s", c.host, c.name, r)
			}
			// Positive control: planted on the host, the same git runs it.
			ctl := project()
			hostTool(t, ctl, true, "sh", "-c", plant)
			hostTool(t, filepath.Join(ctl, c.dir), false, c.host...)
			if !exists(marker) {
				t.Fatalf("planted on the host, %v did not run it: the judge cannot see it (%s)", c.host, c.name)
			}
		})
	}
}

// TestReviewCapFailsClosed: a directory over the walk's cap stops the
// review from looking at what is past it: the review stays pending and
// the next launch refuses, until the review can look at everything (the
// big directory moved away: it then holds what was planted) or the user
// acknowledges it (claudebox review --incomplete-ok).
func TestReviewCapFailsClosed(t *testing.T) {
	needSuite(t)
	resetClaudeState(t)
	proj := reviewProject(t)
	marker := filepath.Join(outsideDir(t, testUser), "fsmonitor-ran")
	in := invocation{as: testUser, dir: proj}
	big := "mkdir big; (cd big && seq 1 100001 | xargs touch)\n"
	r := in.run(t, "run", "-q", "--", "sh", "-c", big+plantNestedRepoAt(marker, "big/sub"))
	mustExit(t, r, 0)
	mustContain(t, r, "planted", "could not look at everything", "more than 100000 entries", "--incomplete-ok")
	mustNotContain(t, r, "held for your review") // big/sub is past the cap: not looked at
	r = in.run(t, "run", "-q", "--", "echo", "must-not-run")
	if r.code == 0 || strings.Contains(r.stdout, "must-not-run") {
		t.Fatalf("the launch after an incomplete review started:\n%s", r)
	}
	mustContain(t, r, "could not look at everything", "claudebox review --incomplete-ok")
	r = in.run(t, "ls")
	mustContain(t, r, "review pending")
	// The files that made big too big removed: the review looks at
	// everything and holds what was planted past the cap (in big/sub);
	// the host's git does not run it.
	hostTool(t, proj, true, "find", "big", "-maxdepth", "1", "-type", "f", "-delete")
	r = in.run(t, "review")
	mustExit(t, r, 0)
	mustContain(t, r, "held for your review", proj+"/big/sub/.git/config", "core.fsmonitor = touch "+marker)
	hostTool(t, proj, true, "git", "status")
	if exists(marker) {
		t.Fatal("the host's git status ran the fsmonitor planted past the cap")
	}
	r = in.run(t, "run", "-q", "--", "echo", "runs-again")
	mustExit(t, r, 0)
	mustContain(t, r, "runs-again")
	// Or the user acknowledges what the review could not look at.
	r = in.run(t, "run", "-q", "--", "sh", "-c", "mkdir big2; (cd big2 && seq 1 100001 | xargs touch); echo planted-big")
	mustExit(t, r, 0)
	mustContain(t, r, "planted-big", "could not look at everything")
	r = in.run(t, "review", "--incomplete-ok")
	mustExit(t, r, 0)
	mustContain(t, r, "more than 100000 entries")
	r = in.run(t, "run", "-q", "--", "echo", "acknowledged")
	mustExit(t, r, 0)
	mustContain(t, r, "acknowledged")
	// Positive control: accepted, the planted fsmonitor runs.
	r = in.run(t, "accept", "big/sub/.git/config")
	mustExit(t, r, 0)
	hostTool(t, proj, true, "git", "status")
	if !exists(marker) {
		t.Fatal("accepted, the planted fsmonitor did not run: the judge cannot see it")
	}
}

// TestReviewRestoresNestedOriginals: a nested repository's config and a
// nested .claude/settings.local.json, the user's before the first launch,
// changed by a session in a way that is held, go back to the user's
// content (no launch-time snapshot covers them: the first launch's walk
// kept them); the user's own alias runs again, the planted fsmonitor
// does not. Positive control: accepted, git runs the fsmonitor.
func TestReviewRestoresNestedOriginals(t *testing.T) {
	needSuite(t)
	resetClaudeState(t)
	proj := reviewProject(t)
	marker := filepath.Join(outsideDir(t, testUser), "fsmonitor-ran")
	userSettings := `{"permissions":{"allow":["Bash(make:*)"]}}`
	hostTool(t, proj, true, "sh", "-c", `set -e
		git init -q sub; git -C sub config alias.hi '!echo users-own-alias'
		mkdir -p app/.claude; echo '`+userSettings+`' > app/.claude/settings.local.json`)
	in := invocation{as: testUser, dir: proj}
	r := in.run(t, "run", "-q", "--", "sh", "-c", `set -e
		printf '[core]\n\tfsmonitor = "touch `+marker+`; false"\n' > sub/.git/config
		echo '{"hooks":{"Stop":[{"hooks":[{"type":"command","command":"touch `+marker+`"}]}]}}' > app/.claude/settings.local.json
		echo rewritten`)
	mustExit(t, r, 0)
	mustContain(t, r, "rewritten", "held for your review", proj+"/sub/.git/config", proj+"/app/.claude/settings.local.json")
	if b, _ := os.ReadFile(filepath.Join(proj, "app/.claude/settings.local.json")); strings.TrimSpace(string(b)) != userSettings {
		t.Errorf("the user's nested Claude settings are not back: %q", b)
	}
	if out := hostTool(t, filepath.Join(proj, "sub"), false, "git", "hi"); !strings.Contains(out, "users-own-alias") {
		t.Errorf("the user's nested config is not back: git hi says %q", out)
	}
	hostTool(t, filepath.Join(proj, "sub"), false, "git", "status")
	if exists(marker) {
		t.Fatal("the host's git status ran the fsmonitor a session planted")
	}
	r = in.run(t, "review")
	mustContain(t, r, "back to its launch-time content")
	r = in.run(t, "accept", "sub/.git/config")
	mustExit(t, r, 0)
	hostTool(t, filepath.Join(proj, "sub"), false, "git", "status")
	if !exists(marker) {
		t.Fatal("accepted, the planted fsmonitor did not run: the judge cannot see it")
	}
}
