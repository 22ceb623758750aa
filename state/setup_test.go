package state

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/claudebox/claudebox/launch"
)

func obj(t *testing.T, s string) map[string]json.RawMessage {
	t.Helper()
	if s == "" {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return m
}

func compact(t *testing.T, m map[string]json.RawMessage) string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLayerSettings(t *testing.T) {
	for _, c := range []struct {
		name, base, host, inst, want string
	}{
		{"first launch: the host's", "", `{"model":"opus"}`, "", `{"model":"opus"}`},
		{"host change arrives", `{"model":"opus"}`, `{"model":"sonnet"}`, `{"model":"opus"}`, `{"model":"sonnet"}`},
		{"instance change kept", `{"model":"opus"}`, `{"model":"sonnet"}`, `{"model":"haiku"}`, `{"model":"haiku"}`},
		{"instance addition kept", `{"model":"opus"}`, `{"model":"opus"}`, `{"model":"opus","theme":"dark"}`, `{"model":"opus","theme":"dark"}`},
		{"instance removal kept", `{"model":"opus","theme":"x"}`, `{"model":"opus","theme":"x"}`, `{"model":"opus"}`, `{"model":"opus"}`},
		{"host removal arrives", `{"model":"opus","theme":"x"}`, `{"model":"opus"}`, `{"model":"opus","theme":"x"}`, `{"model":"opus"}`},
		{"spacing is no change", `{"p":{"a":1}}`, `{"p":{"a":2}}`, `{"p": { "a": 1 }}`, `{"p":{"a":2}}`},
		{"no base: host wins, own keys kept", "", `{"model":"opus"}`, `{"model":"old","theme":"dark"}`, `{"model":"opus","theme":"dark"}`},
		{"no host settings", `{"model":"opus"}`, "", `{"model":"opus"}`, `{}`},
	} {
		got := compact(t, LayerSettings(obj(t, c.base), obj(t, c.host), obj(t, c.inst)))
		if got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
}

func TestCarryCredentials(t *testing.T) {
	host := obj(t, `{"claudeAiOauth":{"accessToken":"L"},"mcpOAuth":{"github|aa":{"serverName":"github","accessToken":"GH","expiresAt":2},"github|cc":{"serverName":"github","accessToken":"OTHER-PROJECT-GH"},"notes|bb":{"serverName":"notes","accessToken":"NOTES-SECRET"}},"pluginSecrets":{"p":"PLUGIN-SECRET"}}`)
	for _, c := range []struct {
		name, inst string
		keys       []string
		want       string
	}{
		{"none named: no token", `{"claudeAiOauth":{"accessToken":"L"}}`, nil, `{"claudeAiOauth":{"accessToken":"L"}}`},
		{"named: its token only", `{"claudeAiOauth":{"accessToken":"L"}}`, []string{"github|aa"},
			`{"claudeAiOauth":{"accessToken":"L"},"mcpOAuth":{"github|aa":{"serverName":"github","accessToken":"GH","expiresAt":2}}}`},
		{"another server of that name: not carried", `{}`, []string{"github|aa"},
			`{"mcpOAuth":{"github|aa":{"serverName":"github","accessToken":"GH","expiresAt":2}}}`},
		{"an old whole copy is cleaned", `{"claudeAiOauth":{"accessToken":"L"},"mcpOAuth":{"github|aa":{"accessToken":"GH","expiresAt":2},"notes|bb":{"serverName":"notes","accessToken":"NOTES-SECRET"}},"pluginSecrets":{"p":"PLUGIN-SECRET"}}`, nil,
			`{"claudeAiOauth":{"accessToken":"L"}}`},
		{"the instance's own kept", `{"mcpOAuth":{"mine|cc":{"accessToken":"M"}},"own":1}`, nil, `{"mcpOAuth":{"mine|cc":{"accessToken":"M"}},"own":1}`},
		{"a newer token inside kept", `{"mcpOAuth":{"github|aa":{"accessToken":"NEWER","expiresAt":3}}}`, []string{"github|aa"},
			`{"mcpOAuth":{"github|aa":{"accessToken":"NEWER","expiresAt":3}}}`},
		{"an older token inside replaced", `{"mcpOAuth":{"github|aa":{"accessToken":"OLDER","expiresAt":1}}}`, []string{"github|aa"},
			`{"mcpOAuth":{"github|aa":{"serverName":"github","accessToken":"GH","expiresAt":2}}}`},
	} {
		got := compact(t, CarryCredentials(host, obj(t, c.inst), c.keys))
		if got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
}

// Only the login goes back to the host; the host's other keys stay; the
// named server's token goes in, the other's does not.
func TestCredentialSyncOnlyLogin(t *testing.T) {
	home, host, instFile := testHome(t)
	hostFile := launch.CredentialsPath(host)
	os.WriteFile(hostFile, []byte(`{"claudeAiOauth":{"accessToken":"host-1","refreshToken":"r"},"mcpOAuth":{"github|aa":{"accessToken":"GH-TOKEN"},"notes|bb":{"accessToken":"NOTES-TOKEN"}},"other":{"k":"OTHER-SECRET"}}`), 0o600)
	c, err := StartCredentialSync(host, home, []string{"github|aa"})
	if err != nil {
		t.Fatal(err)
	}
	waitFile(t, instFile, `{"claudeAiOauth":{"accessToken":"host-1","refreshToken":"r"},"mcpOAuth":{"github|aa":{"accessToken":"GH-TOKEN"}}}`)
	os.WriteFile(instFile, []byte(`{"claudeAiOauth":{"accessToken":"inside","refreshToken":"r"},"mcpOAuth":{"github|aa":{"accessToken":"CHANGED-INSIDE"}},"other":{"k":"PLANTED"}}`), 0o600)
	c.Stop()
	waitFile(t, hostFile, `{"claudeAiOauth":{"accessToken":"inside","refreshToken":"r"},"mcpOAuth":{"github|aa":{"accessToken":"GH-TOKEN"},"notes|bb":{"accessToken":"NOTES-TOKEN"}},"other":{"k":"OTHER-SECRET"}}`)
}

func TestPrepareSetup(t *testing.T) {
	inst := &launch.Instance{ID: "p-1", Dir: t.TempDir(), Root: "/p"}
	h, err := OpenHome(inst)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	claudeJSON := filepath.Join(inst.HomeDir(), ".claude.json")
	settings := filepath.Join(inst.HomeDir(), SettingsFile)
	os.WriteFile(claudeJSON, []byte(`{"numStartups":3,"mcpServers":{"old":{"env":{"T":"OLD-SECRET"}}}}`), 0o600)
	spec := &launch.Spec{Home: "/home/u", Instance: inst, Setup: &launch.Setup{
		Settings: json.RawMessage(`{"model":"opus"}`),
		MCP:      []launch.MCPServer{{Name: "github", Config: json.RawMessage(`{"command":"gh-mcp","env":{"GITHUB_TOKEN":"ghp_x"}}`)}},
	}}
	if err := h.prepareSetup(spec); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(claudeJSON)
	if strings.Contains(string(b), "OLD-SECRET") || !strings.Contains(string(b), `"github"`) || !strings.Contains(string(b), `"numStartups": 3`) {
		t.Errorf("~/.claude.json: %s", b)
	}
	if b, _ := os.ReadFile(settings); compact(t, obj(t, string(b))) != `{"model":"opus"}` {
		t.Errorf("settings: %s", b)
	}
	// Inside, Claude changes the theme; the host changes the model.
	os.WriteFile(settings, []byte(`{"model":"opus","theme":"dark"}`), 0o600)
	spec.Setup = &launch.Setup{Settings: json.RawMessage(`{"model":"sonnet"}`)}
	if err := h.prepareSetup(spec); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(settings); compact(t, obj(t, string(b))) != `{"model":"sonnet","theme":"dark"}` {
		t.Errorf("settings: %s", b)
	}
	if b, _ := os.ReadFile(claudeJSON); strings.Contains(string(b), "mcpServers") || !strings.Contains(string(b), `"numStartups": 3`) {
		t.Errorf("no server named, yet ~/.claude.json: %s", b)
	}
	// A link planted as settings.json is moved aside, not followed.
	target := filepath.Join(t.TempDir(), "victim.json")
	os.WriteFile(target, []byte(`{"keep":"me"}`), 0o600)
	os.Remove(settings)
	os.Symlink(target, settings)
	if err := h.prepareSetup(spec); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != `{"keep":"me"}` {
		t.Errorf("the link's target was written: %s", b)
	}
	if fi, err := os.Lstat(settings); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("settings.json is not a regular file now: %v", err)
	}
}
