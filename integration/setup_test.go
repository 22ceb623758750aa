package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"unicode/utf8"

	"github.com/containernetworking/plugins/pkg/ns"
)

// mcpServerJS is a minimal MCP server over stdio: it offers one tool,
// named after its first argument.
const mcpServerJS = `const name = process.argv[2];
let buf = "";
process.stdin.on("data", (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf("\n")) >= 0) {
    const line = buf.slice(0, i); buf = buf.slice(i + 1);
    if (!line.trim()) continue;
    const m = JSON.parse(line);
    if (m.id === undefined) continue;
    let reply = { jsonrpc: "2.0", id: m.id };
    if (m.method === "initialize") reply.result = { protocolVersion: m.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name, version: "1.0.0" } };
    else if (m.method === "tools/list") reply.result = { tools: [{ name, description: "probe " + name, inputSchema: { type: "object", properties: {} } }] };
    else reply.error = { code: -32601, message: "not here" };
    process.stdout.write(JSON.stringify(reply) + "\n");
  }
});
`

// messagesRecorder plays the Messages API in the test world's peers
// namespace (on api.test's address, port 8090) and keeps every request
// body: it answers each with the text "SETUP-OK".
type messagesRecorder struct {
	mu     sync.Mutex
	bodies []string
}

func (m *messagesRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != "POST" || !strings.HasPrefix(r.URL.Path, "/v1/messages") || strings.Contains(r.URL.Path, "count_tokens") {
		http.NotFound(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	m.mu.Lock()
	m.bodies = append(m.bodies, string(body))
	m.mu.Unlock()
	w.Header().Set("Content-Type", "text/event-stream")
	usage := map[string]any{"input_tokens": 10, "output_tokens": 5}
	for _, ev := range []map[string]any{
		{"type": "message_start", "message": map[string]any{"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-test", "content": []any{}, "stop_reason": nil, "stop_sequence": nil, "usage": usage}},
		{"type": "content_block_start", "index": 0, "content_block": map[string]any{"type": "text", "text": ""}},
		{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": "SETUP-OK"}},
		{"type": "content_block_stop", "index": 0},
		{"type": "message_delta", "delta": map[string]any{"stop_reason": "end_turn", "stop_sequence": nil}, "usage": map[string]any{"output_tokens": 5}},
		{"type": "message_stop"},
	} {
		b, _ := json.Marshal(ev)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev["type"], b)
	}
}

// take returns the bodies received since the last take.
func (m *messagesRecorder) take() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.bodies
	m.bodies = nil
	return b
}

// startMessagesRecorder listens on api.test's address in the peers
// namespace: the socket is made there, the server runs here.
func startMessagesRecorder(t *testing.T) *messagesRecorder {
	t.Helper()
	var l net.Listener
	err := ns.WithNetNSPath("/run/netns/cbw-peers", func(ns.NetNS) error {
		var err error
		l, err = net.Listen("tcp", "198.51.100.30:8090")
		return err
	})
	if err != nil {
		t.Fatalf("listening in the test world: %v", err)
	}
	m := &messagesRecorder{}
	srv := &http.Server{Handler: m}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return m
}

// TestClaudeSetupComesAlong: the user's Claude Code setup (a command, an
// agent, a skill, a plugin from a local marketplace, a SessionStart hook's
// script, two MCP servers, one holding a token) comes along into the
// sandbox, where the real Claude Code runs against a scripted Messages
// API. Its request names the command, the skill, the agent and the
// plugin's command; the hook ran. No MCP server comes along unless named,
// and then only that one, its token masked in the plan and found nowhere
// in the instance before. A change on the host shows at the next launch;
// the setup cannot be written from inside.
func TestClaudeSetupComesAlong(t *testing.T) {
	needSuite(t)
	claude := realClaude(t)
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node (installed with the real Claude Code) is needed for the test's MCP server: %v", err)
	}
	resetClaudeState(t)
	u := testUser
	home := u.home
	const mcpToken = "ghp_MCPsecretTOKENmcpSECRETtoken0123456789"
	files := map[string]string{
		".claude/commands/review-pr.md":           "---\ndescription: Review the pull request MARKER-CMD-ONE\n---\nReview it.\n",
		".claude/agents/checker.md":               "---\nname: checker\ndescription: Checks things MARKER-AGENT\n---\nYou check.\n",
		".claude/skills/deploy-helper/SKILL.md":   "---\nname: deploy-helper\ndescription: Helps deploy MARKER-SKILL\n---\nDeploy.\n",
		".claude/hooks/start.sh":                  "#!/bin/sh\necho hook-ran > \"$CLAUDE_PROJECT_DIR/hook-ran\"\n",
		"cb-mkt/.claude-plugin/marketplace.json":  `{"name":"local","owner":{"name":"t"},"plugins":[{"name":"hello","source":"./hello","description":"hello"}]}`,
		"cb-mkt/hello/.claude-plugin/plugin.json": `{"name":"hello","version":"1.0.0","description":"hello"}`,
		"cb-mkt/hello/commands/greet.md":          "---\ndescription: Greets MARKER-PLUGIN\n---\nGreet.\n",
		"cb-mcp/server.js":                        mcpServerJS,
	}
	for rel, content := range files {
		if err := writeOwned(u, filepath.Join(home, rel), content); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		os.RemoveAll(filepath.Join(home, "cb-mkt"))
		os.RemoveAll(filepath.Join(home, "cb-mcp"))
	})
	os.Chmod(filepath.Join(home, ".claude/hooks/start.sh"), 0o755)
	// The plugin is installed on the host by the real Claude Code, as the
	// user would.
	for _, args := range [][]string{{"plugin", "marketplace", "add", filepath.Join(home, "cb-mkt")}, {"plugin", "install", "hello@local"}} {
		cmd := exec.Command(claude, args...)
		cmd.Env = []string{"HOME=" + home, "PATH=/usr/bin:/bin", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1"}
		cmd.Dir = home
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid)}}
		cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWNET // offline
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("claude %v on the host: %v\n%s", args, err, out)
		}
	}
	// The user's settings: the plugin (written by the install) and a hook.
	settingsPath := filepath.Join(home, ".claude/settings.json")
	var settings map[string]any
	if b, err := os.ReadFile(settingsPath); err != nil || json.Unmarshal(b, &settings) != nil {
		t.Fatalf("the plugin install wrote no settings: %v %s", err, b)
	}
	settings["hooks"] = map[string]any{"SessionStart": []any{map[string]any{"hooks": []any{map[string]any{"type": "command", "command": "~/.claude/hooks/start.sh"}}}}}
	b, _ := json.Marshal(settings)
	if err := writeOwned(u, settingsPath, string(b)); err != nil {
		t.Fatal(err)
	}
	server := func(tool, env string) string {
		return fmt.Sprintf(`{"type":"stdio","command":%q,"args":[%q,%q],"env":{%s}}`, node, filepath.Join(home, "cb-mcp/server.js"), tool, env)
	}
	claudeJSON := `{"hasCompletedOnboarding":true,"mcpServers":{"github":` + server("gh_probe", `"GITHUB_TOKEN":"`+mcpToken+`"`) + `,"notes":` + server("notes_probe", "") + `}}`
	if err := writeOwned(u, filepath.Join(home, ".claude.json"), claudeJSON); err != nil {
		t.Fatal(err)
	}

	api := startMessagesRecorder(t)
	proj := newProject(t, u)
	in := invocation{as: u, dir: proj, env: []string{"PATH=" + filepath.Dir(claude) + ":/usr/bin:/bin"}}
	launch := func(extra ...string) result {
		args := append([]string{"run", "-y", "--network", "allowlist", "--allow-host", "api.test:8090",
			"--env", "ANTHROPIC_BASE_URL=http://api.test:8090", "--env", "ANTHROPIC_API_KEY=" + apiKey,
			"--env", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1"}, extra...)
		return in.inWorld(t, append(args, "--", "timeout", "60", "claude", "-p", "hi", "--dangerously-skip-permissions")...)
	}

	// Without --mcp.
	r := launch()
	mustExit(t, r, 0)
	mustContain(t, r, "SETUP-OK", "2 left out", "github, notes")
	bodies := strings.Join(api.take(), "\n")
	for _, want := range []string{"review-pr", "MARKER-CMD-ONE", "MARKER-AGENT", "MARKER-SKILL", "MARKER-PLUGIN"} {
		if !strings.Contains(bodies, want) {
			t.Errorf("the request to the API does not name %s", want)
		}
	}
	if bodies == "" || strings.Contains(bodies, "mcp__") {
		t.Errorf("without --mcp, the request carries an MCP server (or there was none): %d bytes", len(bodies))
	}
	if b, err := os.ReadFile(filepath.Join(proj, "hook-ran")); err != nil || strings.TrimSpace(string(b)) != "hook-ran" {
		t.Errorf("the SessionStart hook of the user's settings did not run inside: %v %q", err, b)
	}
	instance := filepath.Join(home, ".claudebox/instances")
	grep := func() string {
		out, _ := exec.Command("grep", "-rl", mcpToken, instance).Output()
		return string(out)
	}
	if n, _ := exec.Command("grep", "-rl", "SETUP-OK", instance).Output(); len(n) == 0 {
		t.Fatal("no transcript in the instance: the grep for the token would prove nothing")
	}
	if found := grep(); found != "" {
		t.Errorf("the MCP token is in the instance without --mcp: %s", found)
	}

	// With --mcp github: that server only, its token masked in the plan.
	r = launch("--mcp", "github")
	mustExit(t, r, 0)
	mustContain(t, r, "SETUP-OK", "1 left out")
	mustNotContain(t, r, mcpToken)
	if line := lineWith(r.stderr, "ghp_…(42 chars)"); !strings.HasPrefix(line, "!") {
		t.Errorf("the plan does not show the token masked on a risky row:\n%s", r.stderr)
	}
	bodies = strings.Join(api.take(), "\n")
	if !strings.Contains(bodies, "mcp__github__gh_probe") || strings.Contains(bodies, "mcp__notes__") {
		t.Errorf("with --mcp github the request must carry github's tool, not notes': github %v, notes %v",
			strings.Contains(bodies, "mcp__github__gh_probe"), strings.Contains(bodies, "mcp__notes__"))
	}

	// The plan fits 80 columns.
	dry := in
	dry.env = append(dry.env, "COLUMNS=80")
	r = dry.run(t, "--dry-run", "--mcp", "github")
	mustExit(t, r, 0)
	for _, l := range strings.Split(r.stdout, "\n") {
		if utf8.RuneCountInString(l) > 80 || strings.TrimRight(l, " ") != l {
			t.Errorf("a plan line wider than 80 columns or ending in a space: %q", l)
		}
	}
	mustContain(t, r, "ghp_…(42 chars)", "~/.claude/commands")

	// A change on the host shows at the next launch; writing it from
	// inside fails.
	cmdFile := filepath.Join(home, ".claude/commands/review-pr.md")
	if err := writeOwned(u, cmdFile, "---\ndescription: MARKER-CMD-TWO\n---\n"); err != nil {
		t.Fatal(err)
	}
	r = in.run(t, "run", "-q", "--", "sh", "-c",
		`cat ~/.claude/commands/review-pr.md; echo planted >> ~/.claude/commands/review-pr.md && echo WROTE; echo planted > ~/.claude/commands/new.md && echo WROTE-NEW; echo launched-ok`)
	mustExit(t, r, 0)
	mustContain(t, r, "MARKER-CMD-TWO", "launched-ok", "Read-only file system")
	mustNotContain(t, r, "WROTE")
	if b, _ := os.ReadFile(cmdFile); strings.Contains(string(b), "planted") {
		t.Errorf("the sandbox wrote the user's command: %q", b)
	}
}
