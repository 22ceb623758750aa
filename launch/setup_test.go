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

// A link that would show more than it should is not followed: to the home
// itself, to an ancestor of a secret location, of the instance, of the
// project; nor a marketplace there, nor a CLAUDE.md that leads into a
// secret location or the project. A link to a plain directory is.
func TestClaudeSetupLinksThatHoldTooMuch(t *testing.T) {
	w := setupWorld(t)
	c := filepath.Join(w.home, ".claude")
	state := filepath.Join(w.home, "var/cb")
	mustMkdir(t, state)
	for name, target := range map[string]string{
		"homelink": w.home,
		"config":   filepath.Join(w.home, ".config"), // holds ~/.config/gh
		"var":      filepath.Join(w.home, "var"),     // holds the instance
		"src":      filepath.Join(w.home, "src"),     // holds the project
		"root":     "/",
	} {
		if err := os.Symlink(target, filepath.Join(c, "skills", name)); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(c, "plugins/known_marketplaces.json"), `{"m":{"installLocation":"`+w.home+`"},"n":{"installLocation":"`+filepath.Join(w.home, "mkt")+`"}}`, 0o644)
	if err := os.Symlink(filepath.Join(w.home, ".ssh/id_ed25519"), filepath.Join(c, "CLAUDE.md")); err != nil {
		t.Fatal(err)
	}
	s, err := Resolve(run(Options{StateDir: state}), w.host)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{w.home, filepath.Join(w.home, ".config"), filepath.Join(w.home, "var"), filepath.Join(w.home, "src"), "/", filepath.Join(w.home, ".ssh/id_ed25519")} {
		if i := slices.IndexFunc(s.Mounts, func(m Mount) bool { return m.Path == bad }); i >= 0 {
			t.Errorf("%s is shown: %+v", bad, s.Mounts[i])
		}
	}
	// The positive control: a plain directory linked in, and a plain
	// marketplace, are shown.
	for _, good := range []string{filepath.Join(w.home, "code/skills/shared"), filepath.Join(w.home, "mkt")} {
		if m, ok := mountAt(s, good); !ok || m.Mode != ReadOnly {
			t.Errorf("%s not shown: %+v", good, m)
		}
	}
	notes := strings.Join(s.Notes, "\n")
	for _, want := range []string{
		"skills/homelink leads to " + w.home + ", not below your home",
		"skills/config leads to " + filepath.Join(w.home, ".config") + ", which holds the secret location " + filepath.Join(w.home, ".config/gh"),
		"skills/var leads to " + filepath.Join(w.home, "var") + ", which holds",
		"skills/src leads to " + filepath.Join(w.home, "src") + ", which holds",
		"plugin marketplace m is " + w.home + ", not below your home",
		"~/.claude/CLAUDE.md leads to " + filepath.Join(w.home, ".ssh/id_ed25519") + ", a secret location",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}

	// A CLAUDE.md in the project (which the sandbox writes) is refused; a
	// plain one elsewhere under the home is shown.
	os.Remove(filepath.Join(c, "CLAUDE.md"))
	writeFile(t, filepath.Join(w.proj, "CLAUDE.md"), "x", 0o644)
	if err := os.Symlink(filepath.Join(w.proj, "CLAUDE.md"), filepath.Join(c, "CLAUDE.md")); err != nil {
		t.Fatal(err)
	}
	s, err = Resolve(run(Options{StateDir: state}), w.host)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := mountAt(s, HostClaudeMDPath(s.Home)); ok || !strings.Contains(strings.Join(s.Notes, "\n"), "~/.claude/CLAUDE.md leads to "+filepath.Join(w.proj, "CLAUDE.md")+", inside") {
		t.Errorf("a CLAUDE.md from the project: mounted %v, notes %q", ok, s.Notes)
	}
	os.Remove(filepath.Join(c, "CLAUDE.md"))
	writeFile(t, filepath.Join(w.home, "notes/CLAUDE.md"), "x", 0o644)
	if err := os.Symlink(filepath.Join(w.home, "notes/CLAUDE.md"), filepath.Join(c, "CLAUDE.md")); err != nil {
		t.Fatal(err)
	}
	s, err = Resolve(run(Options{StateDir: state}), w.host)
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := mountAt(s, HostClaudeMDPath(s.Home)); !ok || m.Path != filepath.Join(w.home, "notes/CLAUDE.md") {
		t.Errorf("a plain CLAUDE.md is not shown: %+v", m)
	}
}

// A secret location that is itself a link (a dotfiles manager's ~/.docker
// -> dotfiles/docker) is still one where it resolves to: a link to it, to
// the tree that holds it, or a hook script in it is not shown; and a
// mount of that tree hides it.
func TestClaudeSetupLinkedSecret(t *testing.T) {
	w := setupWorld(t)
	c := filepath.Join(w.home, ".claude")
	real := filepath.Join(w.home, "dotfiles/docker")
	mustMkdir(t, real)
	writeFile(t, filepath.Join(real, "config.json"), `{"auths":{}}`, 0o600)
	writeFile(t, filepath.Join(real, "hook.sh"), "#!/bin/sh", 0o755)
	mustMkdir(t, filepath.Join(w.home, "dotfiles/vim"))
	if err := os.Symlink("dotfiles/docker", filepath.Join(w.home, ".docker")); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"docker": filepath.Join(w.home, ".docker"), "dotfiles": filepath.Join(w.home, "dotfiles"), "vim": filepath.Join(w.home, "dotfiles/vim")} {
		if err := os.Symlink(target, filepath.Join(c, "skills", name)); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(c, "settings.json"), `{"hooks":{"Stop":[{"hooks":[{"type":"command","command":"~/.docker/hook.sh"}]}]}}`, 0o644)
	s, err := Resolve(run(Options{StateDir: filepath.Join(w.home, ".claudebox")}), w.host)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range s.Mounts {
		if Within(real, m.Path) || Within(m.Path, real) {
			t.Errorf("the linked secret is shown: %+v", m)
		}
	}
	if m, ok := mountAt(s, filepath.Join(w.home, "dotfiles/vim")); !ok || m.Mode != ReadOnly {
		t.Errorf("a plain directory of the dotfiles is not shown: %+v", m)
	}
	notes := strings.Join(s.Notes, "\n")
	for _, want := range []string{
		"skills/docker leads to " + real + ", a secret location",
		"skills/dotfiles leads to " + filepath.Join(w.home, "dotfiles") + ", which holds the secret location " + real,
		filepath.Join(real, "hook.sh") + " (a hook in your settings runs it) is a secret location",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	if !IsSecretPath(w.home, filepath.Join(real, "config.json")) {
		t.Error("IsSecretPath misses the resolved secret")
	}

	// A mount of the dotfiles (--ro) shows the real ~/.docker: it is hidden.
	s, err = Resolve(run(Options{RO: []string{filepath.Join(w.home, "dotfiles")}}), w.host)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(s.Hidden, real) {
		t.Errorf("hidden %v lacks %s", s.Hidden, real)
	}
}
