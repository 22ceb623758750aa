package audit

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/claudebox/claudebox/launch"
)

// setupRows are the plan's rows on what of the user's Claude Code setup
// comes along: how many of each part (the mounts themselves are listed
// with the read-only ones), the settings, and each MCP server named with
// its secrets masked (every env and header value, a URL's credentials),
// or how many were left out.
func setupRows(row func(mark, key, value, note string), set *launch.Setup) {
	if set == nil {
		return
	}
	var parts []string
	for _, p := range set.Parts {
		if p.Name == "keybindings.json" {
			parts = append(parts, "keybindings")
			continue
		}
		parts = append(parts, p.Name+" "+strconv.Itoa(p.Count))
	}
	if len(set.Hooks) > 0 {
		parts = append(parts, "hook scripts "+strconv.Itoa(len(set.Hooks)))
	}
	if len(parts) > 0 {
		row("", "claude setup", "~/.claude", strings.Join(parts, ", ")+": yours, read-only, current at every launch")
	}
	if set.Settings != nil {
		row("", "claude setup", "settings.json", "yours as the base, current at every launch; the instance's own changes on top")
	}
	for _, m := range set.MCP {
		summary, secrets := describeMCP(m.Config)
		row("", "mcp", m.Name, summary)
		for _, s := range secrets {
			row(Risky, "mcp", m.Name+" "+s[0], s[1])
		}
	}
	if n := len(set.MCPLeftOut); n > 0 {
		row("", "mcp", fmt.Sprintf("%d left out", n), strings.Join(set.MCPLeftOut, ", ")+": of your ~/.claude.json, not named; name one with --mcp NAME")
	}
}

// describeMCP says what an MCP server runs or reaches (masked inline),
// and lists its secrets as (where, masked value) pairs: every env and
// header value, the credentials of its URL.
func describeMCP(config json.RawMessage) (summary string, secrets [][2]string) {
	var c struct {
		Type    string            `json:"type"`
		Command string            `json:"command"`
		Args    []string          `json:"args"`
		URL     string            `json:"url"`
		Env     map[string]string `json:"env"`
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(config, &c); err != nil {
		return "from ~/.claude.json (not understood: passed as it is)", nil
	}
	switch {
	case c.URL != "":
		shown, masked := MaskURL(c.URL)
		summary = strings.TrimSpace(c.Type + " " + shown)
		if masked {
			secrets = append(secrets, [2]string{"url", shown})
		}
	default:
		summary = MaskInline(strings.Join(append([]string{c.Command}, c.Args...), " "))
	}
	for _, kind := range []struct {
		what string
		m    map[string]string
	}{{"env", c.Env}, {"header", c.Headers}} {
		names := make([]string, 0, len(kind.m))
		for k := range kind.m {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			secrets = append(secrets, [2]string{kind.what + " " + k, MaskSecret(kind.m[k])})
		}
	}
	return "from ~/.claude.json: " + summary, slices.Clip(secrets)
}
