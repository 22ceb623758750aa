package review

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
)

// kind is what a host tool does with a file of the host-run surface.
type kind int

const (
	kindGitConfig kind = iota + 1 // config, config.worktree of a git directory
	kindCommondir                 // a git directory's commondir
	kindHook                      // an entry of a git directory's hooks/
	kindGitfile                   // a .git file: "gitdir: PATH"
	kindClaude                    // .claude/settings.json, .claude/settings.local.json
	kindMCP                       // .mcp.json
	kindEditor                    // .vscode/*, .idea run configurations
)

// why is what the user reads about a kind.
func (k kind) why() string {
	switch k {
	case kindGitConfig, kindCommondir:
		return "git on your host runs what it names"
	case kindHook:
		return "git on your host runs it"
	case kindGitfile:
		return "git on your host uses the repository it names"
	case kindClaude:
		return "Claude Code on your host runs what it names"
	case kindMCP:
		return "Claude Code on your host starts its MCP servers"
	}
	return "your editor runs its tasks and the programs it names"
}

// claudeDataKeys are the keys of Claude Code's settings that hold only
// data. Any other key that changes is held: hooks, statusLine,
// apiKeyHelper, awsAuthRefresh, awsCredentialExport, otelHeadersHelper,
// env, enableAllProjectMcpServers, enabledMcpjsonServers, and the keys
// Claude Code adds next.
var claudeDataKeys = []string{"permissions", "model", "outputStyle", "includeCoAuthoredBy", "cleanupPeriodDays", "spinnerTipsEnabled"}

// permissionDataKeys: within permissions, the rules Claude writes when the
// user answers "don't ask again". defaultMode (bypassPermissions) and
// additionalDirectories widen what Claude may do unasked: held.
var permissionDataKeys = []string{"allow", "deny", "ask"}

// judgeClaude says which keys of a Claude Code settings file, changed
// from old (nil: none), are not data.
func judgeClaude(old, now []byte) []string {
	var was, is map[string]json.RawMessage
	if err := json.Unmarshal(now, &is); err != nil || is == nil {
		return []string{"settings that claudebox cannot read as a JSON object: Claude Code may run what they name"}
	}
	if old != nil && json.Unmarshal(old, &was) != nil {
		was = nil
	}
	var runs []string
	for _, k := range changedKeys(was, is) {
		switch {
		case k == "permissions":
			var pw, pi map[string]json.RawMessage
			_ = json.Unmarshal(was[k], &pw)
			if json.Unmarshal(is[k], &pi) != nil && is[k] != nil {
				runs = append(runs, "permissions: "+compact(is[k]))
				continue
			}
			for _, pk := range changedKeys(pw, pi) {
				if !slices.Contains(permissionDataKeys, pk) {
					runs = append(runs, "permissions."+pk+": "+compact(pi[pk]))
				}
			}
		case !slices.Contains(claudeDataKeys, k):
			runs = append(runs, k+": "+compact(is[k]))
		}
	}
	return runs
}

// changedKeys lists, sorted, the keys whose value differs between a and b
// (added, removed or changed).
func changedKeys(a, b map[string]json.RawMessage) []string {
	var out []string
	for k, v := range b {
		if w, ok := a[k]; !ok || !jsonEqual(v, w) {
			out = append(out, k)
		}
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return bytes.Equal(ja, jb)
}

// compact shows a JSON value on one line, cut at 300 bytes.
func compact(v json.RawMessage) string {
	if v == nil {
		return "(removed)"
	}
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return cut(string(v), 300)
	}
	return cut(b.String(), 300)
}

func cut(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// judgeWhole is for files any change of which is held (.mcp.json, editor
// run configurations, hooks): what they hold, shown briefly.
func judgeWhole(k kind, rel string, now []byte) []string {
	switch k {
	case kindHook:
		return []string{"hook " + path.Base(rel) + ": " + firstLines(now, 3)}
	case kindMCP:
		var m struct {
			Servers map[string]json.RawMessage `json:"mcpServers"`
		}
		if json.Unmarshal(now, &m) == nil && len(m.Servers) > 0 {
			var out []string
			for name, v := range m.Servers {
				out = append(out, "MCP server "+name+": "+compact(v))
			}
			sort.Strings(out)
			return out
		}
	}
	return []string{path.Base(rel) + ": " + firstLines(now, 3)}
}

// firstLines shows the start of a file on one line.
func firstLines(b []byte, n int) string {
	lines := strings.SplitN(strings.TrimSpace(string(b)), "\n", n+1)
	more := ""
	if len(lines) > n {
		lines, more = lines[:n], " ..."
	}
	return cut(fmt.Sprintf("%q", strings.Join(lines, "\n")), 300) + more
}

// judge says what in now (the file rel of kind k, at old at launch, nil
// when it was not there) a host tool would run; nothing: the change is
// data and passes.
func judge(k kind, rel string, old, now []byte) []string {
	switch k {
	case kindGitConfig:
		return judgeGitConfig(old, now)
	case kindCommondir:
		return judgeCommondir(rel, now)
	case kindClaude:
		return judgeClaude(old, now)
	}
	return judgeWhole(k, rel, now)
}
