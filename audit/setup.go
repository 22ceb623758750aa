package audit

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/claudebox/claudebox/launch"
)

// setupRows are the plan's rows on what of the user's Claude Code setup
// comes along: how many of each part (the mounts themselves are listed
// with the read-only ones), the settings with a masked "!" row for each
// secret-looking variable of their env, and each MCP server named with
// what it passes masked on "!" rows (describeMCP), or how many were left
// out.
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
		for _, e := range settingsEnvSecrets(set.Settings) {
			row(Risky, "claude setup", "settings env "+e[0], e[1])
		}
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

// settingsEnvSecrets are the variables of the host settings' env (which
// the instance's settings get, so Claude Code sets them inside) whose name
// or value looks secret, as (name, masked value) pairs, by name.
func settingsEnvSecrets(settings json.RawMessage) [][2]string {
	var obj map[string]json.RawMessage
	var env map[string]json.RawMessage
	if json.Unmarshal(settings, &obj) != nil || json.Unmarshal(obj["env"], &env) != nil {
		return nil
	}
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	sort.Strings(names)
	var out [][2]string
	for _, k := range names {
		v := string(env[k])
		var str string
		if json.Unmarshal(env[k], &str) == nil {
			v = str
		}
		if shown, masked := Mask(k, v); masked {
			out = append(out, [2]string{k, shown})
		}
	}
	return out
}

// describeMCP says what an MCP server runs or reaches, and lists as
// (where, masked value) pairs what it passes that may be secret. It
// denies by default: the entry is read by its exact keys (as Claude Code
// reads them; encoding/json would match "Headers" to headers), every env
// and header value is masked, every argument but an absolute path, and a
// URL's user info, query and fragment (the summary shows scheme://host/path);
// a key or value not understood (an oauth block, a number for an env
// value) is listed as passed as it is.
func describeMCP(config json.RawMessage) (summary string, secrets [][2]string) {
	var entry map[string]json.RawMessage
	if err := json.Unmarshal(config, &entry); err != nil || entry == nil {
		return "from ~/.claude.json (not understood)", [][2]string{{"config", "passed as it is: " + MaskSecret(string(config))}}
	}
	asIs := func(key string) {
		secrets = append(secrets, [2]string{key, "passed as it is: " + MaskSecret(string(entry[key]))})
	}
	str := func(key string) (string, bool) {
		raw, ok := entry[key]
		if !ok || string(raw) == "null" {
			return "", true
		}
		var v string
		if json.Unmarshal(raw, &v) != nil {
			asIs(key)
			return "", false
		}
		return v, true
	}
	typ, _ := str("type")
	command, _ := str("command")
	rawURL, _ := str("url")
	var words []string
	if command != "" {
		words = append(words, MaskInline(command))
	}
	if raw, ok := entry["args"]; ok && string(raw) != "null" {
		var args []string
		if json.Unmarshal(raw, &args) != nil {
			asIs("args")
		}
		for i, a := range args {
			if filepath.IsAbs(a) && !strings.ContainsAny(a, "=:?&@") {
				words = append(words, a)
				continue
			}
			shown := MaskSecret(a)
			words = append(words, shown)
			secrets = append(secrets, [2]string{"arg " + strconv.Itoa(i+1), shown})
		}
	}
	switch {
	case rawURL != "":
		shown, hidden := splitURL(rawURL)
		summary = strings.TrimSpace(typ + " " + shown)
		if hidden != "" {
			secrets = append(secrets, [2]string{"url", hidden})
		}
	default:
		summary = strings.Join(words, " ")
	}
	for _, kind := range []struct{ key, what string }{{"env", "env"}, {"headers", "header"}} {
		raw, ok := entry[kind.key]
		if !ok || string(raw) == "null" {
			continue
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) != nil {
			asIs(kind.key)
			continue
		}
		names := make([]string, 0, len(m))
		for k := range m {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			var v string
			if json.Unmarshal(m[k], &v) != nil {
				secrets = append(secrets, [2]string{kind.what + " " + k, "passed as it is: " + MaskSecret(string(m[k]))})
				continue
			}
			secrets = append(secrets, [2]string{kind.what + " " + k, MaskSecret(v)})
		}
	}
	var unknown []string
	for k := range entry {
		if !slices.Contains([]string{"type", "command", "args", "url", "env", "headers"}, k) {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		asIs(k)
	}
	return "from ~/.claude.json: " + summary, slices.Clip(secrets)
}

// splitURL shows an MCP server's URL as scheme://host/path (its path with
// credential-shaped tokens masked) and returns the rest, none of it shown (maskWhole):
// the user info, query and fragment ("" when it has none). A string that
// is not such a URL is masked whole.
func splitURL(raw string) (shown, hidden string) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return MaskSecret(raw), MaskSecret(raw)
	}
	var rest []string
	if u.User != nil {
		rest = append(rest, "user info "+maskWhole(u.User.String()))
	}
	if u.RawQuery != "" || u.ForceQuery {
		rest = append(rest, "query "+maskWhole(u.RawQuery))
	}
	if u.Fragment != "" {
		rest = append(rest, "fragment "+maskWhole(u.EscapedFragment()))
	}
	shown = u.Scheme + "://" + u.Host + MaskInline(u.EscapedPath())
	return shown, strings.Join(rest, ", ")
}

// maskWhole shows none of a value: only its length.
func maskWhole(v string) string {
	return "…(" + strconv.Itoa(utf8.RuneCountInString(v)) + " chars)"
}
