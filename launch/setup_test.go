package launch

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// setupWorld is a world whose user has a Claude Code setup: commands (one
// a link to a file kept elsewhere), a skill linked in from another
// repository, agents, a plugin from a local marketplace, keybindings, a
// hook script and two MCP servers; and links that lead to secrets.
func setupWorld(t *testing.T) *world {
	t.Helper()
	w := newWorld(t)
	c := filepath.Join(w.home, ".claude")
	for _, d := range []string{"commands", "agents", "skills/local", "plugins/cache/m/p", "hooks", "projects/-other", "output-styles"} {
		mustMkdir(t, filepath.Join(c, d))
	}
	mustMkdir(t, filepath.Join(w.home, "code/skills/shared"))
	mustMkdir(t, filepath.Join(w.home, "mkt"))
	writeFile(t, filepath.Join(c, "commands/review.md"), "review", 0o644)
	writeFile(t, filepath.Join(c, "agents/a.md"), "a", 0o644)
	writeFile(t, filepath.Join(c, "keybindings.json"), "{}", 0o644)
	writeFile(t, filepath.Join(c, "hooks/guard.sh"), "#!/bin/sh", 0o755)
	writeFile(t, filepath.Join(c, ".credentials.json"), `{"claudeAiOauth":{"accessToken":"x"}}`, 0o600)
	writeFile(t, filepath.Join(w.home, "notes/status.py"), "print()", 0o644)
	writeFile(t, filepath.Join(w.home, "notes/plain.txt"), "not a script", 0o644)
	if err := os.Symlink(filepath.Join(w.home, "code/skills/shared"), filepath.Join(c, "skills/shared")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(w.home, ".ssh"), filepath.Join(c, "skills/leak")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../projects", filepath.Join(c, "agents/transcripts")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(c, "plugins/installed_plugins.json"), `{"version":2,"plugins":{"p@m":[{"scope":"user"}]}}`, 0o644)
	writeFile(t, filepath.Join(c, "plugins/known_marketplaces.json"), `{"m":{"installLocation":"`+filepath.Join(w.home, "mkt")+`"}}`, 0o644)
	writeFile(t, filepath.Join(c, "settings.json"), `{"model":"opus","hooks":{"PreToolUse":[{"matcher":"Bash","hooks":[{"type":"command","command":"~/.claude/hooks/guard.sh --strict"},{"type":"command","command":"cat ~/.claude/.credentials.json ~/notes/plain.txt"}]}]},"statusLine":{"type":"command","command":"python3 \"$HOME/notes/status.py\""}}`, 0o644)
	mustMkdir(t, filepath.Join(w.home, "mcp"))
	writeFile(t, filepath.Join(w.home, "mcp/server.js"), "//", 0o644)
	writeFile(t, filepath.Join(w.home, ".claude.json"), `{"mcpServers":{"github":{"command":"node","args":["`+filepath.Join(w.home, "mcp/server.js")+`"],"env":{"GITHUB_TOKEN":"ghp_abc"}},"notes":{"command":"n"}}}`, 0o600)
	return w
}

func mountAt(s *Spec, dest string) (Mount, bool) {
	i := slices.IndexFunc(s.Mounts, func(m Mount) bool { return m.Dest() == dest })
	if i < 0 {
		return Mount{}, false
	}
	return s.Mounts[i], true
}

func TestClaudeSetup(t *testing.T) {
	w := setupWorld(t)
	s, err := Resolve(run(Options{StateDir: filepath.Join(w.home, ".claudebox")}), w.host)
	if err != nil {
		t.Fatal(err)
	}
	c := filepath.Join(w.home, ".claude")
	for _, dest := range []string{"commands", "agents", "skills", "plugins", "output-styles", "keybindings.json"} {
		m, ok := mountAt(s, filepath.Join(c, dest))
		if !ok || m.Mode != ReadOnly || !m.Setup {
			t.Errorf("~/.claude/%s not shown read-only: %+v", dest, m)
		}
	}
	for _, p := range []string{filepath.Join(w.home, "code/skills/shared"), filepath.Join(w.home, "mkt"), filepath.Join(c, "hooks/guard.sh"), filepath.Join(w.home, "notes/status.py")} {
		if m, ok := mountAt(s, p); !ok || m.Mode != ReadOnly {
			t.Errorf("%s not shown read-only: %+v", p, m)
		}
	}
	for _, m := range s.Mounts {
		for _, secret := range []string{".ssh", ".claude/projects", ".credentials.json", "notes/plain.txt", ".claude.json"} {
			if strings.Contains(m.Path, secret) {
				t.Errorf("a secret is shown: %+v", m)
			}
		}
	}
	notes := strings.Join(s.Notes, "\n")
	for _, want := range []string{"skills/leak leads to " + filepath.Join(w.home, ".ssh") + ", a secret location", "agents/transcripts leads to " + filepath.Join(c, "projects")} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	if len(s.Setup.MCP) != 0 || !slices.Equal(s.Setup.MCPLeftOut, []string{"github", "notes"}) {
		t.Errorf("MCP %+v, left out %v", s.Setup.MCP, s.Setup.MCPLeftOut)
	}
	if _, ok := mountAt(s, filepath.Join(w.home, "mcp/server.js")); ok {
		t.Error("the script of an MCP server not named is shown")
	}
	if string(s.Setup.Settings) == "" || !slices.Equal(s.Setup.Hooks, []string{filepath.Join(c, "hooks/guard.sh"), filepath.Join(w.home, "notes/status.py")}) {
		t.Errorf("settings %q, hooks %v", s.Setup.Settings, s.Setup.Hooks)
	}
	counts := map[string]int{}
	for _, p := range s.Setup.Parts {
		counts[p.Name] = p.Count
	}
	if counts["commands"] != 1 || counts["skills"] != 3 || counts["plugins"] != 1 || counts["keybindings.json"] != 1 {
		t.Errorf("counts %v", counts)
	}

	s, err = Resolve(run(Options{StateDir: filepath.Join(w.home, ".claudebox"), MCP: []string{"github"}}), w.host)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Setup.MCP) != 1 || s.Setup.MCP[0].Name != "github" || !strings.Contains(string(s.Setup.MCP[0].Config), "ghp_abc") || !slices.Equal(s.Setup.MCPLeftOut, []string{"notes"}) {
		t.Errorf("MCP %+v, left out %v", s.Setup.MCP, s.Setup.MCPLeftOut)
	}
	if m, ok := mountAt(s, filepath.Join(w.home, "mcp/server.js")); !ok || m.Mode != ReadOnly {
		t.Errorf("the named MCP server's script is not shown: %+v", m)
	}

	_, err = Resolve(run(Options{StateDir: filepath.Join(w.home, ".claudebox"), MCP: []string{"gitlab"}}), w.host)
	if !errors.Is(err, ErrBadMCP) || !strings.Contains(err.Error(), "it has github, notes") || Hint(err) == "" {
		t.Errorf("an unknown --mcp: %v (hint %q)", err, Hint(err))
	}
	_, err = Resolve(run(Options{StateDir: filepath.Join(w.home, ".claudebox"), MCP: []string{"a b"}}), w.host)
	if !errors.Is(err, ErrBadMCP) {
		t.Errorf("a bad --mcp name: %v", err)
	}

	// Without an instance nothing comes along.
	s, err = Resolve(run(Options{}), w.host)
	if err != nil || s.Setup != nil || slices.ContainsFunc(s.Mounts, func(m Mount) bool { return m.Setup }) {
		t.Errorf("without an instance: %v %+v", err, s)
	}
}

// A part of the setup that leads into the project (which the sandbox can
// write) is not shown: a link there could be swapped before the mount.
func TestClaudeSetupNotFromWritable(t *testing.T) {
	w := setupWorld(t)
	c := filepath.Join(w.home, ".claude")
	mustMkdir(t, filepath.Join(w.proj, "cmds"))
	os.RemoveAll(filepath.Join(c, "commands"))
	if err := os.Symlink(filepath.Join(w.proj, "cmds"), filepath.Join(c, "commands")); err != nil {
		t.Fatal(err)
	}
	s, err := Resolve(run(Options{StateDir: filepath.Join(w.home, ".claudebox")}), w.host)
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := mountAt(s, filepath.Join(c, "commands")); ok {
		t.Errorf("shown from the project: %+v", m)
	}
	if !strings.Contains(strings.Join(s.Notes, "\n"), "which the sandbox can write") {
		t.Errorf("notes %q", s.Notes)
	}
}
