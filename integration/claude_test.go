package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/claudebox/claudebox/launch"
)

// realClaude is the real Claude Code CLI that `make test` installs from the
// npm registry (hack/install-claude-code.sh).
func realClaude(t *testing.T) string {
	t.Helper()
	p := os.Getenv("CLAUDEBOX_REAL_CLAUDE")
	if p == "" {
		t.Skip("CLAUDEBOX_REAL_CLAUDE is not set (run `make integration`)")
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("the real Claude Code is not installed at %s (run hack/install-claude-code.sh): %v", p, err)
	}
	return p
}

// TestRealClaudeCode runs the real CLI in the sandbox. The launcher runs in
// a network namespace of the test's own with nothing in it, so Claude
// cannot reach anything; without a login it writes its state and stops.
func TestRealClaudeCode(t *testing.T) {
	needSuite(t)
	claude := realClaude(t)
	resetClaudeState(t)
	hostJSON := filepath.Join(testUser.home, ".claude.json")
	if err := writeOwned(testUser, hostJSON, `{"numStartups":7,"hasCompletedOnboarding":true}`); err != nil {
		t.Fatal(err)
	}
	planted := filepath.Join(testUser.home, ".claude/projects/-host-only/s.jsonl")
	if err := writeOwned(testUser, planted, `{"msg":"HOST-TRANSCRIPT"}`); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(hostJSON)

	run := func(dir string, args ...string) result {
		in := invocation{as: testUser, dir: dir, env: []string{
			"PATH=" + filepath.Dir(claude) + ":/usr/bin:/bin",
			"DISABLE_AUTOUPDATER=1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
		}}
		cmd := in.command(args...)
		cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWNET
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		_ = cmd.Run()
		return result{out.String(), errb.String(), cmd.ProcessState.ExitCode()}
	}
	r := run(testUser.home, "run", "--project", newProject(t, testUser), "--", "claude", "--version")
	mustExit(t, r, 0)
	mustContain(t, r, "(Claude Code)")

	a, b := newProject(t, testUser), newProject(t, testUser)
	for _, p := range []string{a, b} {
		r := run(p, "--", "-p", "hi")
		mustContain(t, r, "Not logged in")
	}
	instances := filepath.Join(testUser.home, ".claudebox/instances")
	for _, c := range []struct{ project, other string }{{a, b}, {b, a}} {
		home := filepath.Join(instances, launch.InstanceID(c.project), "home")
		// The host's file (numStartups, hasCompletedOnboarding) is
		// copied in; what Claude adds at its first start is its own.
		var state struct{ FirstStartTime, UserID string }
		if b, err := os.ReadFile(filepath.Join(home, ".claude.json")); err != nil || json.Unmarshal(b, &state) != nil || state.FirstStartTime == "" || state.UserID == "" {
			t.Errorf("claude did not write the instance's ~/.claude.json (no firstStartTime, userID of its own): %v %q", err, b)
		}
		slug := strings.ReplaceAll(c.project, "/", "-")
		if got, _ := filepath.Glob(filepath.Join(home, ".claude/projects", slug, "*.jsonl")); len(got) == 0 {
			t.Errorf("no transcript of %s in its instance", c.project)
		}
		otherSlug := strings.ReplaceAll(c.other, "/", "-")
		if _, err := os.Stat(filepath.Join(home, ".claude/projects", otherSlug)); err == nil {
			t.Errorf("the instance of %s holds %s's transcripts", c.project, c.other)
		}
		if _, err := os.Stat(filepath.Join(home, ".claude/projects/-host-only")); err == nil {
			t.Errorf("the host's transcripts reached the instance of %s", c.project)
		}
	}
	after, _ := os.Stat(hostJSON)
	if got, _ := os.ReadFile(hostJSON); !after.ModTime().Equal(before.ModTime()) || string(got) != `{"numStartups":7,"hasCompletedOnboarding":true}` {
		t.Errorf("the host's ~/.claude.json was touched: %q", got)
	}
	hostProjects, _ := os.ReadDir(filepath.Join(testUser.home, ".claude/projects"))
	if len(hostProjects) != 1 {
		t.Errorf("Claude wrote into the host's ~/.claude/projects: %v", hostProjects)
	}
}

// TestRealClaudeAllowlist: the real Claude Code completes a whole session
// in the allowlist tier, against the world's scripted Messages API on
// api.test, the one host listed: it asks, runs the Bash tool it is told
// to (which writes a file in the project), sends the tool's result back,
// and prints the final answer. Nothing else is reachable.
func TestRealClaudeAllowlist(t *testing.T) {
	needSuite(t)
	claude := realClaude(t)
	resetClaudeState(t)
	proj := worldProject(t, testUser)
	in := invocation{as: testUser, dir: proj, env: []string{"PATH=" + filepath.Dir(claude) + ":/usr/bin:/bin"}}
	r := in.inWorld(t, "run", "-q", "--network", "allowlist", "--allow-host", "api.test:8080",
		"--env", "ANTHROPIC_BASE_URL=http://api.test:8080", "--env", "ANTHROPIC_API_KEY="+apiKey,
		"--env", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
		"--", "timeout", "60", "claude", "-p", "Write the file, please", "--dangerously-skip-permissions")
	mustExit(t, r, 0)
	mustContain(t, r, "ALL-DONE-7")
	if b, err := os.ReadFile(filepath.Join(proj, "from-claude.txt")); err != nil || strings.TrimSpace(string(b)) != "made-by-claude" {
		t.Errorf("the tool Claude ran did not write the project: %q %v\n%s", b, err, r)
	}
}
