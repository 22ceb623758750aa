package audit

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/claudebox/claudebox/launch"
)

// The plan's MCP and settings rows deny by default: every env and header
// value, every argument but an absolute path, a URL's query, user info and
// fragment are masked on a "!" row; keys are read exactly (a "Headers"
// does not hide the real headers); what is not understood (an oauth
// block, a number for an env value) is a "!" row passed as it is; and a
// secret-looking variable of the settings' env is a masked "!" row.
func TestSetupRowsDenyByDefault(t *testing.T) {
	set := &launch.Setup{
		Settings: json.RawMessage(`{"env":{"MY_API_KEY":"abcdefabcdef1234","EDITOR":"vi"}}`),
		MCP: []launch.MCPServer{
			{Name: "local", Config: json.RawMessage(`{"command":"node","args":["/opt/srv/server.js","--password","plainpassword123","-y"],` +
				`"env":{"PLAIN":"plainenvvalue1234","N":12345678901234567},"headers":{"X-Api":"plainheadervalue1"},"Headers":null,` +
				`"oauth":{"clientId":"c","clientSecret":"plainoauthsecret1"}}`)},
			{Name: "remote", Config: json.RawMessage(`{"type":"http","url":"https://mcp.test/sse?q=plainqueryvalue1#plainfragmentv1"}`)},
		},
	}
	type r struct{ mark, key, value, note string }
	var rows []r
	setupRows(func(mark, key, value, note string) { rows = append(rows, r{mark, key, value, note}) }, set)
	var all strings.Builder
	risky := map[string]string{}
	for _, x := range rows {
		all.WriteString(x.mark + "|" + x.key + "|" + x.value + "|" + x.note + "\n")
		if x.mark == Risky {
			risky[x.value] = x.note
		}
	}
	out := all.String()
	for _, secret := range []string{"abcdefabcdef1234", "plainpassword123", "plainenvvalue1234", "12345678901234567", "plainheadervalue1", "plainoauthsecret1", "plainqueryvalue1", "plainfragmentv1"} {
		if strings.Contains(out, secret) {
			t.Errorf("a secret shows whole (%s):\n%s", secret, out)
		}
	}
	for _, want := range []string{
		"settings env MY_API_KEY", "local arg 2", "local arg 3", "local arg 4", "local env PLAIN", "local env N",
		"local header X-Api", "local Headers", "local oauth", "remote url",
	} {
		if _, ok := risky[want]; !ok {
			t.Errorf("no ! row %q:\n%s", want, out)
		}
	}
	for what, want := range map[string]string{"local env N": "passed as it is", "local oauth": "passed as it is", "local Headers": "passed as it is", "remote url": "query"} {
		if !strings.Contains(risky[what], want) {
			t.Errorf("%s: %q lacks %q", what, risky[what], want)
		}
	}
	if _, ok := risky["settings env EDITOR"]; ok {
		t.Errorf("a plain settings variable is a ! row:\n%s", out)
	}
	// The positive control: what is no secret is shown.
	for _, want := range []string{"node /opt/srv/server.js", "http https://mcp.test/sse\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
}
