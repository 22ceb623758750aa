package launch

import (
	"encoding/json"
	"testing"
)

// The keys are Claude Code's: the expected hashes were computed by node
// with the function Claude Code 2.1.332 uses (sha256 of
// JSON.stringify({type:n.type,url:n.url,headers:n.headers||{}}), first 16
// hex digits), read from its binary.
func TestMCPCredentialKey(t *testing.T) {
	for _, c := range []struct{ config, want string }{
		{`{"type":"http","url":"https://mcp.github.test/mcp"}`, "s|518468f57e5ea762"},
		{`{"type":"http","url":"https://mcp.github.test/mcp","headers":null}`, "s|518468f57e5ea762"},
		{`{"type":"sse","url":"https://a.test/x?q=1","headers":{"Authorization":"Bearer t\"ö\u0001\n","X-B":"é<>&\u2028"}}`, "s|de9e10288e91773a"},
		{`{"command":"node","args":["x"]}`, "s|6483b69eec05dc56"},
	} {
		if got, ok := MCPCredentialKey("s", json.RawMessage(c.config)); !ok || got != c.want {
			t.Errorf("%s: %q %v, want %q", c.config, got, ok, c.want)
		}
	}
	// What cannot be computed for sure carries no key.
	for _, config := range []string{
		`{"type":"http","url":"https://${HOST}/mcp"}`,
		`{"type":"http","url":"https://a.test","headers":{"1":"x"}}`,
		`{"type":"http","url":"https://a.test","headers":{"A":1}}`,
		`{"type":"http","url":"https://a.test","headers":{"A":"x","A":"y"}}`,
		`{"type":7,"url":"https://a.test"}`,
		`[]`,
	} {
		if got, ok := MCPCredentialKey("s", json.RawMessage(config)); ok {
			t.Errorf("%s: %q, want none", config, got)
		}
	}
}
