package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"

	"github.com/claudebox/claudebox/internal/safefs"
	"github.com/claudebox/claudebox/launch"
)

// Files of the instance home the user's setup is written to, and the
// instance directory's record of the host settings last layered under the
// instance's (claudebox's own: the sandbox never sees it).
const (
	SettingsFile     = ".claude/settings.json"
	ClaudeJSONFile   = ".claude.json"
	settingsBaseName = "settings.base.json"
	maxSettings      = 1 << 20
)

// prepareSetup brings the user's setup in for this launch: the host's
// settings layered under the instance's own changes, and the instance's
// ~/.claude.json holding exactly the MCP servers named.
func (home *Home) prepareSetup(s *launch.Spec) error {
	if s.Setup == nil || s.Instance == nil {
		return nil
	}
	if err := home.layerSettings(s.Instance, s.Setup.Settings); err != nil {
		return fmt.Errorf("settings.json: %w", err)
	}
	if err := home.carryMCP(s.Setup.MCP); err != nil {
		return fmt.Errorf(".claude.json: %w", err)
	}
	return nil
}

// layerSettings writes the instance's ~/.claude/settings.json: the host's
// settings (host, a JSON object or nil), current at each launch, with the
// instance's own changes on top. What the instance changed is what
// differs, key by top-level key, from the host settings the last launch
// layered (kept in the instance directory): such a key (changed, added
// or removed inside) stays as the instance has it; every other key is the
// host's now.
func (home *Home) layerSettings(inst *launch.Instance, host []byte) error {
	basePath := filepath.Join(inst.Dir, settingsBaseName)
	var base map[string]json.RawMessage
	oldBase, _, err := safefs.ReadTrusted(basePath, maxSettings)
	if err == nil {
		_ = json.Unmarshal(oldBase, &base)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var hostObj map[string]json.RawMessage
	if host != nil {
		if err := json.Unmarshal(host, &hostObj); err != nil {
			return err
		}
	}
	err = home.Update(SettingsFile, maxSettings, func(old []byte) []byte {
		var own map[string]json.RawMessage
		if old != nil && json.Unmarshal(old, &own) != nil {
			own = nil // not JSON: no change of the instance's is known
		}
		merged := LayerSettings(base, hostObj, own)
		if len(merged) == 0 && old == nil {
			return nil
		}
		b, err := json.MarshalIndent(merged, "", "  ")
		if err != nil {
			return nil
		}
		return append(b, '\n')
	})
	if err != nil {
		return err
	}
	if hostObj == nil {
		hostObj = map[string]json.RawMessage{}
	}
	b, err := json.Marshal(hostObj)
	if err != nil || bytes.Equal(b, oldBase) {
		return err // unchanged: no write (it fsyncs)
	}
	return WriteFileAtomic(basePath, b, 0o600)
}

// LayerSettings layers the instance's settings (inst) over the host's
// (host), base being the host settings the last launch layered (nil: none
// recorded, an instance made before claudebox layered them). A top-level
// key whose value in inst differs from base's is the instance's own and
// kept (removed, when inst lacks it); any other key is host's. Without a
// base, the instance's own are the keys the host lacks; without inst (no
// file, or not JSON) the instance has none.
func LayerSettings(base, host, inst map[string]json.RawMessage) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for k, v := range host {
		out[k] = v
	}
	if base == nil || inst == nil {
		for k, v := range inst {
			if _, ok := host[k]; !ok {
				out[k] = v
			}
		}
		return out
	}
	keys := map[string]bool{}
	for k := range base {
		keys[k] = true
	}
	for k := range inst {
		keys[k] = true
	}
	for k := range keys {
		b, inBase := base[k]
		v, inInst := inst[k]
		switch {
		case inBase && inInst && sameJSON(b, v):
			// unchanged inside: the host's, as it is now
		case inInst:
			out[k] = v
		default:
			delete(out, k) // removed inside
		}
	}
	return out
}

// sameJSON reports whether two JSON values are the same but for spacing.
func sameJSON(a, b json.RawMessage) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

// carryMCP makes the instance's ~/.claude.json hold, as its user-scope
// MCP servers, exactly those named (servers): the host's, as they are now.
// Everything else in it (Claude's state, servers of the project's local
// scope made inside) is kept.
func (home *Home) carryMCP(servers []launch.MCPServer) error {
	want := map[string]json.RawMessage{}
	for _, m := range servers {
		want[m.Name] = m.Config
	}
	return home.Update(ClaudeJSONFile, maxHostState, func(old []byte) []byte {
		var top map[string]json.RawMessage
		if old == nil {
			if len(want) == 0 {
				return nil // no file, none to add: Claude starts its onboarding
			}
		} else if json.Unmarshal(old, &top) != nil {
			home.Notes = append(home.Notes, "instance home: ~/.claude.json was not JSON: replaced")
			top = nil
		}
		if top == nil {
			top = map[string]json.RawMessage{}
		}
		cur, has := top["mcpServers"]
		switch {
		case len(want) == 0 && !has:
			return old
		case len(want) == 0:
			delete(top, "mcpServers")
		default:
			b, err := json.Marshal(want)
			if err != nil {
				return old
			}
			if has && sameJSON(cur, b) {
				return old
			}
			top["mcpServers"] = b
		}
		b, err := json.MarshalIndent(top, "", "  ")
		if err != nil {
			return old
		}
		return b
	})
}

// Keys of Claude Code's credentials file that claudebox handles: the
// login, synced both ways, and the MCP servers' OAuth tokens and client
// registrations, keyed "NAME|HASH", carried in for the servers named.
const loginKey = "claudeAiOauth"

var mcpCredKeys = []string{"mcpOAuth", "mcpOAuthClientConfig"}

// credObject parses a credentials file as a JSON object; nil when it is
// not one.
func credObject(b []byte) map[string]json.RawMessage {
	var obj map[string]json.RawMessage
	if json.Unmarshal(b, &obj) != nil {
		return nil
	}
	return obj
}

// isCredFile reports whether b has the shape of Claude Code's credentials
// file: a JSON object holding a login, or MCP OAuth tokens.
func isCredFile(b []byte) bool {
	if launch.IsCredentials(b) {
		return true
	}
	var v struct {
		MCPOAuth map[string]json.RawMessage `json:"mcpOAuth"`
	}
	return json.Unmarshal(b, &v) == nil && v.MCPOAuth != nil
}

// loginOf is the login an object holds (its claudeAiOauth, compact), nil
// when none.
func loginOf(obj map[string]json.RawMessage) []byte {
	raw, ok := obj[loginKey]
	if !ok {
		return nil
	}
	b, _ := json.Marshal(map[string]json.RawMessage{loginKey: raw})
	if !launch.IsCredentials(b) {
		return nil
	}
	var c bytes.Buffer
	if json.Compact(&c, raw) != nil {
		return nil
	}
	return c.Bytes()
}

// CarryCredentials returns the instance's credentials object for a
// launch: the instance's own (inst) without what it holds of the host's
// (host) but for the login and the MCP tokens of the servers named (keys:
// their launch.MCPCredentialKey, "NAME|HASH", so another project's server
// of the same name does not count), which are taken from the host when
// the instance has none or an older one (by expiresAt). A copy of any
// other host key (another tool's grant, a plugin's secret) is dropped;
// what the instance made itself is kept.
func CarryCredentials(host, inst map[string]json.RawMessage, keys []string) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for k, v := range inst {
		if k == loginKey || slices.Contains(mcpCredKeys, k) {
			out[k] = v
			continue
		}
		if hv, ok := host[k]; ok && sameJSON(hv, v) {
			continue // a copy of the host's
		}
		out[k] = v
	}
	for _, key := range mcpCredKeys {
		var hostMap, instMap map[string]json.RawMessage
		_ = json.Unmarshal(host[key], &hostMap)
		_ = json.Unmarshal(inst[key], &instMap)
		merged := map[string]json.RawMessage{}
		for k, v := range instMap {
			if _, fromHost := hostMap[k]; !fromHost || slices.Contains(keys, k) {
				merged[k] = v
			}
		}
		for k, v := range hostMap {
			if !slices.Contains(keys, k) {
				continue
			}
			if mine, ok := merged[k]; !ok || expiresAt(v) > expiresAt(mine) {
				merged[k] = v
			}
		}
		delete(out, key)
		if len(merged) > 0 {
			b, err := json.Marshal(merged)
			if err == nil {
				out[key] = b
			}
		}
	}
	return out
}

// expiresAt is an OAuth entry's expiry (milliseconds), 0 when none.
func expiresAt(raw json.RawMessage) float64 {
	var v struct {
		ExpiresAt float64 `json:"expiresAt"`
	}
	_ = json.Unmarshal(raw, &v)
	return v.ExpiresAt
}
