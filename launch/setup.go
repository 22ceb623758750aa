package launch

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/claudebox/claudebox/internal/safefs"
)

// Setup is what of the user's own Claude Code setup comes along into the
// instance home: the parts of ~/.claude shown read-only (as mounts in
// Spec.Mounts, marked Setup), the user settings that are the base of the
// instance's, and the MCP servers the user named.
type Setup struct {
	// Parts are the parts of ~/.claude shown, with how many entries each
	// holds ("commands": 3); a file part (keybindings.json) counts 1.
	Parts []SetupPart `json:"parts,omitempty"`
	// Hooks are the scripts the user settings' hooks and status line
	// name, shown read-only at their paths.
	Hooks []string `json:"hooks,omitempty"`
	// Settings is the host's ~/.claude/settings.json (a JSON object), read
	// at this launch: the base the instance's own settings are layered on.
	// nil when there is none.
	Settings json.RawMessage `json:"settings,omitempty"`
	// MCP are the user-scope MCP servers of the host's ~/.claude.json that
	// were named (--mcp, the profile's mcp), in the order named; the
	// instance's ~/.claude.json gets them and no other.
	MCP []MCPServer `json:"mcp,omitempty"`
	// MCPLeftOut names the host's user-scope MCP servers not named: left
	// out of the instance.
	MCPLeftOut []string `json:"mcpLeftOut,omitempty"`
}

// SetupPart is one part of ~/.claude shown in the instance home.
type SetupPart struct {
	// Name is its name under ~/.claude ("commands", "keybindings.json").
	Name string `json:"name"`
	// Path is the host path shown (links resolved).
	Path  string `json:"path"`
	Count int    `json:"count"`
}

// MCPServer is one MCP server the user named, as ~/.claude.json holds it.
type MCPServer struct {
	Name string `json:"name"`
	// Config is its entry, whole: command, args, env, url, headers, ...
	Config json.RawMessage `json:"config"`
}

type setupPart struct {
	name string
	dir  bool // a directory, else a file
}

// setupParts are the parts of ~/.claude that make a Claude Code setup:
// shown read-only, at the same place, in the instance home. Nothing else
// of ~/.claude is (transcripts, history, the login: other projects' or
// secret).
var setupParts = []setupPart{
	{"commands", true}, {"agents", true}, {"skills", true}, {"output-styles", true},
	{"plugins", true}, {"keybindings.json", false},
}

// Caps on the host's Claude files read at each launch.
const (
	maxHostSettings   = 1 << 20
	maxHostClaudeJSON = 64 << 20
	maxSetupLinks     = 256 // links followed out of one part
)

// ValidMCPName reports whether name can be a user-scope MCP server's
// name: letters, digits, '-', '_' and '.'.
func ValidMCPName(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// claudeSetup finds what of the user's Claude Code setup comes along: the
// parts of ~/.claude, what their links lead to, the scripts the user
// settings run, the settings themselves and the MCP servers named. The
// host's ~/.claude is the user's own (the sandbox cannot write it), so its
// links are resolved with filepath.EvalSymlinks; a target is shown only
// when it is no secret (IsSecretPath), not hidden and not in a tree the
// sandbox can write (a link there could be swapped before the mount).
func (r *resolver) claudeSetup() error {
	s := r.s
	set := &Setup{}
	claude := filepath.Join(s.Home, ".claude")
	realClaude, err := filepath.EvalSymlinks(claude)
	if err != nil {
		realClaude = claude
	}
	for _, part := range setupParts {
		p := filepath.Join(claude, part.name)
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			s.Notes = append(s.Notes, fmt.Sprintf("~/.claude/%s is a link that leads nowhere: not shown", part.name))
			continue
		}
		if slices.ContainsFunc(s.Mounts, func(m Mount) bool { return Within(p, m.Dest()) }) {
			continue // a mount the user asked for shows it there
		}
		fi, err := os.Stat(real)
		if err != nil || fi.IsDir() != part.dir || !part.dir && !fi.Mode().IsRegular() {
			continue
		}
		if why := r.unsafeSource(real, realClaude); why != "" {
			s.Notes = append(s.Notes, fmt.Sprintf("~/.claude/%s leads to %s, %s: not shown", part.name, real, why))
			continue
		}
		m := Mount{Path: real, Mode: ReadOnly, Why: "your ~/.claude/" + part.name, Setup: true}
		if real != p {
			m.Target = p
		}
		s.Mounts = append(s.Mounts, m)
		n := 1
		if part.dir {
			n = r.followLinks(part.name, real, realClaude)
		}
		if part.name == "plugins" {
			n = r.plugins(real, realClaude)
		}
		set.Parts = append(set.Parts, SetupPart{Name: part.name, Path: real, Count: n})
	}
	if b, _, err := safefs.ReadTrusted(filepath.Join(claude, "settings.json"), maxHostSettings); err == nil {
		var obj map[string]json.RawMessage
		if json.Unmarshal(b, &obj) != nil || obj == nil {
			s.Notes = append(s.Notes, "~/.claude/settings.json is not a JSON object: your settings do not come along")
		} else {
			set.Settings = b
			set.Hooks = r.hookScripts(obj, realClaude)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		s.Notes = append(s.Notes, fmt.Sprintf("~/.claude/settings.json: %v: your settings do not come along", err))
	}
	if err := r.mcpServers(set, realClaude); err != nil {
		return err
	}
	s.Setup = set
	return nil
}

// unsafeSource says why real, a host path a part of the setup leads to,
// must not be shown; "" when it may. Inside ~/.claude (realClaude) only
// the setup parts themselves may be shown. Nor may a path that holds
// (is, or is an ancestor of) the home, ~/.claude, claudebox's state, the
// instance, the project, a secret location (as spelled or resolved) or a
// tree the sandbox can write: a link to ~ would show the whole host home.
func (r *resolver) unsafeSource(real, realClaude string) string {
	s := r.s
	if Within(real, realClaude) {
		if !slices.ContainsFunc(setupParts, func(p setupPart) bool { return Within(real, filepath.Join(realClaude, p.name)) }) {
			return "a part of ~/.claude that holds Claude's state or login"
		}
	} else if IsSecretPath(s.Home, real) {
		return "a secret location"
	}
	if tree, ok := s.WritableTree(real); ok {
		return "inside " + tree + ", which the sandbox can write"
	}
	if r.o.StateDir != "" && Within(real, r.o.StateDir) {
		return "claudebox's own state"
	}
	if slices.ContainsFunc(r.hide, func(h string) bool { return Within(real, h) }) {
		return "hidden"
	}
	return r.holds(real, realClaude)
}

// holds says what of the places nothing shown may hold real holds (see
// unsafeSource); "" when none.
func (r *resolver) holds(real, realClaude string) string {
	s := r.s
	guarded := []struct{ path, what string }{
		{s.Home, "your whole home"},
		{filepath.Join(s.Home, ".claude"), "~/.claude"}, {realClaude, "~/.claude"},
		{filepath.Join(s.Home, ".claudebox"), "claudebox's own state"}, {r.o.StateDir, "claudebox's own state"},
		{s.Project, "the project"},
	}
	if s.Instance != nil {
		guarded = append(guarded, struct{ path, what string }{s.Instance.Dir, "the instance"})
	}
	for _, w := range s.Writable() {
		guarded = append(guarded, struct{ path, what string }{w, w + ", which the sandbox can write"})
	}
	for _, g := range guarded {
		if g.path != "" && Within(g.path, real) {
			return "which holds " + g.what
		}
	}
	if secret, ok := HoldsSecret(s.Home, real); ok {
		return "which holds the secret location " + secret
	}
	return ""
}

// followable says why a link's target (a skill linked in, a plugin
// marketplace) must not be shown; "" when it may: strictly below the
// home, and safe to show (unsafeSource).
func (r *resolver) followable(target, realClaude string) string {
	if target == r.s.Home || !Within(target, r.s.Home) {
		return "not below your home"
	}
	return r.unsafeSource(target, realClaude)
}

// hostClaudeMD shows the user's own ~/.claude/CLAUDE.md beside the
// instance's, which imports it: where it resolves to, when that is a
// regular file that is safe to show (unsafeSource: a link into a secret
// location or a tree the sandbox can write is refused, with a note).
func (r *resolver) hostClaudeMD() {
	s := r.s
	p := filepath.Join(s.Home, ".claude", "CLAUDE.md")
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return
	}
	realClaude, err := filepath.EvalSymlinks(filepath.Dir(p))
	if err != nil {
		return
	}
	if fi, err := os.Stat(real); err != nil || !fi.Mode().IsRegular() {
		s.Notes = append(s.Notes, fmt.Sprintf("~/.claude/CLAUDE.md leads to %s, not a regular file: not shown", real))
		return
	}
	if real != filepath.Join(realClaude, "CLAUDE.md") {
		if why := r.unsafeSource(real, realClaude); why != "" {
			s.Notes = append(s.Notes, fmt.Sprintf("~/.claude/CLAUDE.md leads to %s, %s: not shown", real, why))
			return
		}
	}
	s.Mounts = append(s.Mounts, Mount{Path: real, Target: HostClaudeMDPath(s.Home), Mode: ReadOnly, Why: "your ~/.claude/CLAUDE.md"})
}

// followLinks shows where the links directly inside a part lead, when
// that is elsewhere under the home (a skill kept in another repository):
// the link then resolves inside too. It returns how many entries the part
// holds.
func (r *resolver) followLinks(name, real, realClaude string) int {
	entries, err := os.ReadDir(real)
	if err != nil {
		return 0
	}
	n, links := 0, 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		n++
		if e.Type()&fs.ModeSymlink == 0 || links >= maxSetupLinks {
			continue
		}
		links++
		target, err := filepath.EvalSymlinks(filepath.Join(real, e.Name()))
		if err != nil || Within(target, real) || !Within(target, r.s.Home) || r.shown(target) {
			continue
		}
		if why := r.followable(target, realClaude); why != "" {
			r.s.Notes = append(r.s.Notes, fmt.Sprintf("~/.claude/%s/%s leads to %s, %s: not shown", name, e.Name(), target, why))
			continue
		}
		r.s.Mounts = append(r.s.Mounts, Mount{Path: target, Mode: ReadOnly, Why: fmt.Sprintf("~/.claude/%s/%s links here", name, e.Name()), Setup: true})
	}
	return n
}

// shown reports whether a mount already shows p.
func (r *resolver) shown(p string) bool {
	return slices.ContainsFunc(r.s.Mounts, func(m Mount) bool { return Within(p, m.Path) })
}

// plugins shows the directories of the marketplaces the installed plugins
// come from, when they are elsewhere under the home (a marketplace added
// from a local directory: Claude Code loads its plugins only when it is
// there), and returns how many plugins are installed.
func (r *resolver) plugins(real, realClaude string) int {
	var installed struct {
		Plugins map[string]json.RawMessage `json:"plugins"`
	}
	if b, _, err := safefs.ReadTrusted(filepath.Join(real, "installed_plugins.json"), maxHostSettings); err == nil {
		_ = json.Unmarshal(b, &installed)
	}
	var markets map[string]struct {
		InstallLocation string `json:"installLocation"`
	}
	if b, _, err := safefs.ReadTrusted(filepath.Join(real, "known_marketplaces.json"), maxHostSettings); err == nil {
		_ = json.Unmarshal(b, &markets)
	}
	names := make([]string, 0, len(markets))
	for name := range markets {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		loc := markets[name].InstallLocation
		if !filepath.IsAbs(loc) {
			continue
		}
		target, err := filepath.EvalSymlinks(loc)
		if err != nil || !Within(target, r.s.Home) || r.shown(target) {
			continue
		}
		if why := r.followable(target, realClaude); why != "" {
			r.s.Notes = append(r.s.Notes, fmt.Sprintf("plugin marketplace %s is %s, %s: not shown", name, target, why))
			continue
		}
		r.s.Mounts = append(r.s.Mounts, Mount{Path: target, Mode: ReadOnly, Why: "plugin marketplace " + name, Setup: true})
	}
	return len(installed.Plugins)
}

// scriptExts are the file name endings of scripts a hook may name; a file
// also counts as a script when it is executable.
var scriptExts = []string{".sh", ".bash", ".zsh", ".py", ".js", ".mjs", ".cjs", ".ts", ".rb", ".pl"}

// hookScripts shows the scripts that the user settings' hooks and status
// line run, when they live under the (hidden) home: each file, read-only,
// at its path. A word of a command counts when it is a path under the
// home (~/, $HOME/, ${HOME}/ or spelled out) to a regular file that is a
// script (executable, or named like one) and not a dot file; never a
// secret location, nor in ~/.claude anything but such a script.
func (r *resolver) hookScripts(settings map[string]json.RawMessage, realClaude string) []string {
	var commands []string
	var hooks map[string][]struct {
		Hooks []struct {
			Command string `json:"command"`
		} `json:"hooks"`
	}
	if raw, ok := settings["hooks"]; ok && json.Unmarshal(raw, &hooks) == nil {
		for _, matchers := range hooks {
			for _, m := range matchers {
				for _, h := range m.Hooks {
					commands = append(commands, h.Command)
				}
			}
		}
	}
	var status struct {
		Command string `json:"command"`
	}
	if raw, ok := settings["statusLine"]; ok && json.Unmarshal(raw, &status) == nil {
		commands = append(commands, status.Command)
	}
	var out []string
	for _, c := range commands {
		out = append(out, r.showScripts(c, realClaude, "a hook in your settings runs it", out)...)
	}
	return out
}

// showScripts shows the scripts a command line names under the home (see
// hookScripts), each read-only at its path, unless already shown (or in
// seen); it returns those it shows.
func (r *resolver) showScripts(command, realClaude, why string, seen []string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(command, func(r rune) bool { return strings.ContainsRune(" \t\n\"'=;|&()<>`", r) }) {
		p := r.homePath(w)
		if p == "" {
			continue
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil || !Within(real, r.s.Home) || slices.Contains(seen, real) || slices.Contains(out, real) || r.shown(real) {
			continue
		}
		fi, err := os.Stat(real)
		if err != nil || !fi.Mode().IsRegular() || strings.HasPrefix(filepath.Base(real), ".") {
			continue
		}
		if fi.Mode()&0o111 == 0 && !slices.Contains(scriptExts, filepath.Ext(real)) {
			continue
		}
		if !Within(real, realClaude) {
			if bad := r.unsafeSource(real, realClaude); bad != "" {
				r.s.Notes = append(r.s.Notes, fmt.Sprintf("%s (%s) is %s: not shown", real, why, bad))
				continue
			}
		}
		out = append(out, real)
		r.s.Mounts = append(r.s.Mounts, Mount{Path: real, Mode: ReadOnly, Why: why, Setup: true})
	}
	return out
}

// homePath makes a word of a command a path under the home, or "".
func (r *resolver) homePath(w string) string {
	home := filepath.Clean(r.h.Home)
	for _, prefix := range []string{"~/", "$HOME/", "${HOME}/"} {
		if rest, ok := strings.CutPrefix(w, prefix); ok {
			return filepath.Join(home, rest)
		}
	}
	if !filepath.IsAbs(w) {
		return ""
	}
	w = filepath.Clean(w)
	if Within(w, home) || Within(w, r.s.Home) {
		return w
	}
	return ""
}

// mcpServers takes from the host's ~/.claude.json the user-scope MCP
// servers named (--mcp and the profile's mcp), shows the scripts they run
// from under the home (as hookScripts does), and counts the others, left
// out. A name that is not there is an error.
func (r *resolver) mcpServers(set *Setup, realClaude string) error {
	var named []string
	for _, n := range append(slices.Clone(r.profile.MCP), r.o.MCP...) {
		if !slices.Contains(named, n) {
			named = append(named, n)
		}
	}
	for _, n := range named {
		if !ValidMCPName(n) {
			return withHint(fmt.Errorf("%w: --mcp %q is not an MCP server name", ErrBadMCP, n), "give the name of a server in your ~/.claude.json's mcpServers (claude mcp list -s user)")
		}
	}
	var host struct {
		MCPServers map[string]json.RawMessage `json:"mcpServers"`
	}
	path := filepath.Join(r.s.Home, ".claude.json")
	b, _, err := safefs.ReadTrusted(path, maxHostClaudeJSON)
	switch {
	case err == nil:
		err = json.Unmarshal(b, &host)
	case errors.Is(err, fs.ErrNotExist):
		err = nil // no server to name
	}
	if err != nil {
		if len(named) > 0 {
			return withHint(fmt.Errorf("%w: --mcp %s: %s: %w", ErrBadMCP, named[0], path, err), "fix the file, or launch without --mcp")
		}
		r.s.Notes = append(r.s.Notes, fmt.Sprintf("%s: %v: no MCP server comes along", path, err))
	}
	var all []string
	for name := range host.MCPServers {
		all = append(all, name)
	}
	sort.Strings(all)
	for _, n := range named {
		cfg, ok := host.MCPServers[n]
		if !ok {
			have := "it has none"
			if len(all) > 0 {
				have = "it has " + strings.Join(all, ", ")
			}
			return withHint(fmt.Errorf("%w: --mcp %s: no such user-scope MCP server in %s (%s)", ErrBadMCP, n, path, have),
				"name one of those, or add it on the host: claude mcp add -s user "+n+" ...")
		}
		set.MCP = append(set.MCP, MCPServer{Name: n, Config: cfg})
		// The exact keys Claude Code reads (encoding/json would match
		// "Command" too).
		var entry map[string]json.RawMessage
		var command string
		var args []string
		if json.Unmarshal(cfg, &entry) == nil && json.Unmarshal(entry["command"], &command) == nil && command != "" {
			_ = json.Unmarshal(entry["args"], &args)
			r.showScripts(strings.Join(append([]string{command}, args...), " "), realClaude, "MCP server "+n+" runs it", nil)
		}
	}
	for _, n := range all {
		if !slices.Contains(named, n) {
			set.MCPLeftOut = append(set.MCPLeftOut, n)
		}
	}
	return nil
}

// MCPNames are the names of the servers named (none for a nil Setup).
func (s *Setup) MCPNames() []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, m := range s.MCP {
		out = append(out, m.Name)
	}
	return out
}

// MCPCredentialKeys are the keys of the servers named in Claude Code's
// credentials file (MCPCredentialKey): their OAuth tokens, and no other
// server's of the same name, go into the instance. A server whose key
// cannot be computed has none.
func (s *Setup) MCPCredentialKeys() []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, m := range s.MCP {
		if k, ok := MCPCredentialKey(m.Name, m.Config); ok {
			out = append(out, k)
		}
	}
	return out
}
