package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/containerd/console"
)

const apiKey = "sk-ant-api03-SECRETSECRETSECRETSECRETSECRETSECRET0123456789"

func TestCheck(t *testing.T) {
	needSuite(t)
	proj := newProject(t, testUser)
	in := invocation{as: testUser, dir: proj}

	r := in.inWorld(t, "check")
	mustExit(t, r, 0)
	for _, name := range []string{"user namespaces", "state directory", "claude", "slirp4netns", "/dev/net/tun",
		"secrets hidden", "host read-only", "environment clean", "project writable", "network none", "network inet", "network allowlist"} {
		if line := lineOf(r.stdout, name); !strings.HasPrefix(line, "PASS") {
			t.Errorf("%s: %q\n%s", name, line, r)
		}
	}
	mustContain(t, r, "all checks passed")
	// The report starts with what a bug report needs: claudebox version's header.
	if v := in.run(t, "version"); !strings.HasPrefix(r.stdout, v.stdout) {
		t.Errorf("check does not start with the version header %q\n%s", v.stdout, r)
	}

	r = in.inWorld(t, "--check", "--json")
	mustExit(t, r, 0)
	var results []struct{ Name, Status, Detail string }
	if err := json.Unmarshal([]byte(r.stdout), &results); err != nil || len(results) < 10 {
		t.Fatalf("--check --json: %v\n%s", err, r)
	}

	t.Run("from the bare home", func(t *testing.T) {
		// Not a project: a launch would refuse, the check must not.
		r := invocation{as: testUser, dir: testUser.home}.inWorld(t, "check")
		if line := lineOf(r.stdout, "claude"); !strings.HasPrefix(line, "PASS") {
			t.Errorf("claude: %q\n%s", line, r)
		}
	})
	t.Run("no claude", func(t *testing.T) {
		r := invocation{as: testUser, dir: proj, env: []string{"PATH=/usr/bin:/bin"}}.inWorld(t, "check")
		mustExit(t, r, 1)
		if line := lineOf(r.stdout, "claude"); !strings.HasPrefix(line, "FAIL") {
			t.Errorf("claude: %q", line)
		}
		mustContain(t, r, "fix: install Claude Code")
	})
	t.Run("root's bridge plugins", func(t *testing.T) {
		// Only root's inet uses standard CNI plugins: only root checks them.
		if line := lineOf(r.stdout, "CNI plugins"); line != "" {
			t.Errorf("a user's check looks for plugins it does not use: %q", line)
		}
		rootProj := newProject(t, nil)
		for cniPath, want := range map[string]string{"": "PASS", "/nonexistent": "FAIL"} {
			r := invocation{dir: rootProj, env: []string{"CLAUDEBOX_CNI_PATH=" + cniPath}}.inWorld(t, "check")
			if line := lineOf(r.stdout, "CNI plugins"); !strings.HasPrefix(line, want) {
				t.Errorf("CLAUDEBOX_CNI_PATH=%q: CNI plugins: %q, want %s\n%s", cniPath, line, want, r)
			}
		}
	})
	t.Run("state directory not writable", func(t *testing.T) {
		dir := filepath.Join(testUser.home, ".claudebox")
		os.MkdirAll(dir, 0o700)
		os.Chown(dir, testUser.uid, testUser.gid)
		os.Chmod(dir, 0o500)
		defer os.Chmod(dir, 0o700)
		r := in.inWorld(t, "check")
		mustExit(t, r, 1)
		if line := lineOf(r.stdout, "state directory"); !strings.HasPrefix(line, "FAIL") {
			t.Errorf("state directory: %q", line)
		}
		mustContain(t, r, "chmod u+rwx "+dir)
	})
}

func lineOf(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 1 && strings.HasPrefix(strings.TrimSpace(l[len(f[0]):]), name+" ") {
			return l
		}
	}
	return ""
}

// tree lists every path under the dirs, to compare before and after.
func tree(dirs ...string) []string {
	var out []string
	for _, d := range dirs {
		filepath.WalkDir(d, func(p string, _ fs.DirEntry, err error) error {
			if err == nil {
				out = append(out, p)
			}
			return nil
		})
	}
	sort.Strings(out)
	return out
}

func TestDryRun(t *testing.T) {
	needSuite(t)
	proj := newProject(t, testUser)
	in := invocation{as: testUser, dir: proj, env: []string{"ANTHROPIC_API_KEY=" + apiKey}}
	before := tree(filepath.Join(testUser.home, ".claudebox"), runtimeDir(testUser), proj)

	r := in.run(t, "--dry-run", "--network", "inet", "--", "--resume")
	mustExit(t, r, 0)
	mustContain(t, r, "project", proj, "network", "inet", "from --network", "dry run, nothing was started")
	mustNotContain(t, r, apiKey)

	r = in.run(t, "run", "--dry-run", "--json", "--ro", "/opt", "--", "make", "test")
	mustExit(t, r, 0)
	var cfg struct {
		OCIVersion string
		Process    struct{ Args []string }
		Mounts     []struct{ Destination string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &cfg); err != nil || cfg.OCIVersion == "" {
		t.Fatalf("--dry-run --json is not a config.json: %v\n%s", err, r)
	}
	if args := strings.Join(cfg.Process.Args, " "); !strings.HasSuffix(args, "-- make test") {
		t.Errorf("args %q", args)
	}

	r = in.run(t, "run", "--dry-run", "--ro", "/nonexistent", "--", "true")
	mustExit(t, r, 125)

	if after := tree(filepath.Join(testUser.home, ".claudebox"), runtimeDir(testUser), proj); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("--dry-run created files:\nbefore %v\nafter  %v", before, after)
	}
}

// TestDryRunIsTheLaunch: what --dry-run --json prints is the configuration
// a launch hands libcontainer (CLAUDEBOX_DUMP_CONFIG writes it, with what
// the launch made as the dry run's placeholders), in every tier.
func TestDryRunIsTheLaunch(t *testing.T) {
	needSuite(t)
	proj := worldProject(t, testUser)
	dump := filepath.Join(outsideDir(t, testUser), "config.json")
	for _, tier := range []string{"none", "inet", "full"} {
		in := invocation{as: testUser, dir: proj}
		args := []string{"run", "--network", tier, "--ro", "/opt", "--", "sh", "-c", "exit 3"}
		dry := in.inWorld(t, append(args[:1:1], append([]string{"--dry-run", "--json"}, args[1:]...)...)...)
		mustExit(t, dry, 0)
		in.env = []string{"CLAUDEBOX_DUMP_CONFIG=" + dump}
		mustExit(t, in.inWorld(t, append(args[:1:1], append([]string{"-q"}, args[1:]...)...)...), 3)
		launched, err := os.ReadFile(dump)
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		if err := json.Unmarshal([]byte(dry.stdout), &a); err != nil {
			t.Fatalf("%s: dry run: %v", tier, err)
		}
		if err := json.Unmarshal(launched, &b); err != nil {
			t.Fatalf("%s: launch: %v", tier, err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: the launch's configuration is not the dry run's\ndry run:\n%s\nlaunch:\n%s", tier, dry.stdout, launched)
		}
	}
}

func TestAuditMasksSecrets(t *testing.T) {
	needSuite(t)
	proj := newProject(t, testUser)
	in := invocation{as: testUser, dir: proj, env: []string{"ANTHROPIC_API_KEY=" + apiKey}}
	r := in.run(t, "run", "--env", "GITHUB_TOKEN", "--", "sh", "-c", `printf %s "$ANTHROPIC_API_KEY" | sha256sum`)
	mustExit(t, r, 0)
	if sum := sha256.Sum256([]byte(apiKey)); !strings.Contains(r.stdout, hex.EncodeToString(sum[:])) {
		t.Errorf("the key must reach the sandbox unchanged:\n%s", r)
	}
	mustContain(t, r, "launch plan", "ANTHROPIC_API_KEY", "sk-a…(", "GITHUB_TOKEN", "ghp_…(", "auth")
	if strings.Contains(r.stderr, apiKey) || strings.Contains(r.stderr, githubToken) {
		t.Errorf("a secret appears whole on stderr:\n%s", r.stderr)
	}
	r = in.run(t, "run", "-q", "--", "true")
	if r.stderr != "" {
		t.Errorf("--quiet printed: %q", r.stderr)
	}
}

// TestConfirmation answers the prompt on a terminal.
func TestConfirmation(t *testing.T) {
	needSuite(t)
	proj := newProject(t, testUser)
	for _, c := range []struct {
		answer   string
		env      []string
		launched bool
	}{
		{"n\r", nil, false},
		{"y\r", nil, true},
		{"\r", nil, true},
		{"", []string{"CLAUDEBOX_YES=1"}, true},
	} {
		cmd := invocation{as: testUser, dir: proj, env: c.env}.command("run", "--", "sh", "-c", `echo LAUNCH""ED`)
		master, scr := onTerminal(t, cmd, console.WinSize{Height: 24, Width: 120})
		if c.answer != "" {
			scr.waitFor(t, "Launch? [Y/n]")
			master.Write([]byte(c.answer))
		}
		cmd.Wait()
		out := scr.String()
		if got := strings.Contains(out, "LAUNCHED"); got != c.launched {
			t.Errorf("answer %q env %v: launched=%v, want %v\n%s", c.answer, c.env, got, c.launched, out)
		}
		if !c.launched && (cmd.ProcessState.ExitCode() != 1 || !strings.Contains(out, "not launched")) {
			t.Errorf("declining: exit %d\n%s", cmd.ProcessState.ExitCode(), out)
		}
		if c.env != nil && strings.Contains(out, "Launch?") {
			t.Errorf("CLAUDEBOX_YES=1 still asked")
		}
		assertNothingLeft(t, testUser)
	}
}

func TestSandboxMD(t *testing.T) {
	needSuite(t)
	resetClaudeState(t)
	if err := writeOwned(testUser, filepath.Join(testUser.home, ".claude/CLAUDE.md"), "HOST-GLOBAL-RULES\n"); err != nil {
		t.Fatal(err)
	}
	proj := newProject(t, testUser)
	in := invocation{as: testUser, dir: proj}
	mustExit(t, in.run(t, "run", "--", "sh", "-c", `echo "my own rule" >> ~/.claude/CLAUDE.md`), 0)
	for range 2 {
		mustExit(t, in.run(t, "run", "--", "true"), 0)
	}
	r := in.run(t, "run", "--network", "none", "--", "sh", "-c", `cat ~/.claude/CLAUDE.md; echo ===; cat ~/.claude/SANDBOX.md; echo ===; cat ~/.claude/CLAUDE.host.md`)
	mustExit(t, r, 0)
	parts := strings.Split(r.stdout, "===\n")
	if len(parts) != 3 {
		t.Fatalf("output:\n%s", r)
	}
	if n := strings.Count(parts[0], "@SANDBOX.md"); n != 1 || !strings.Contains(parts[0], "my own rule") || !strings.Contains(parts[0], "@CLAUDE.host.md") {
		t.Errorf("CLAUDE.md after four launches (%d imports):\n%s", n, parts[0])
	}
	if !strings.Contains(parts[1], "## Network: none") || !strings.Contains(parts[1], proj) {
		t.Errorf("SANDBOX.md does not describe this launch:\n%s", parts[1])
	}
	if !strings.Contains(parts[2], "HOST-GLOBAL-RULES") {
		t.Errorf("the user's own CLAUDE.md is not visible inside:\n%s", parts[2])
	}
}

// TestOfficialInstallerLayout: claude as the native installer lays it
// out, a symlink in ~/.local/bin into ~/.local/share/claude/versions.
func TestOfficialInstallerLayout(t *testing.T) {
	needSuite(t)
	versions := filepath.Join(testUser.home, ".local/share/claude/versions")
	if err := writeOwned(testUser, filepath.Join(versions, "9.9.9"), stubClaude); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(versions, "9.9.9"), 0o755)
	link := filepath.Join(testUser.home, ".local/bin/claude")
	saved, _ := os.ReadFile(link)
	os.Remove(link)
	os.Symlink(filepath.Join(versions, "9.9.9"), link)
	defer func() {
		os.Remove(link)
		writeOwned(testUser, link, string(saved))
		os.Chmod(link, 0o755)
		os.RemoveAll(filepath.Join(testUser.home, ".local/share/claude"))
	}()
	r := invocation{as: testUser, dir: newProject(t, testUser)}.run(t, "--yes", "--", "hello")
	mustExit(t, r, 0)
	mustContain(t, r, "stub-claude uid=", "args=hello", versions)
}

// TestRealClaudeUnderHome: the real Claude Code, installed under the
// user's home with npm --prefix, starts inside.
func TestRealClaudeUnderHome(t *testing.T) {
	needSuite(t)
	cached := realClaude(t)
	prefix := filepath.Dir(filepath.Dir(filepath.Dir(cached))) // .../node_modules/.bin/claude
	dest := filepath.Join(testUser.home, "npm-claude")
	os.RemoveAll(dest)
	defer os.RemoveAll(dest)
	if out, err := exec.Command("cp", "-a", "--link", prefix, dest).CombinedOutput(); err != nil {
		t.Fatalf("copying the npm install: %v %s", err, out)
	}
	in := invocation{as: testUser, dir: newProject(t, testUser), env: []string{"PATH=" + filepath.Join(dest, "node_modules/.bin") + ":/usr/bin:/bin"}}
	r := in.inWorld(t, "--yes", "--network", "none", "--", "--version")
	mustExit(t, r, 0)
	mustContain(t, r, "(Claude Code)", dest)
}
