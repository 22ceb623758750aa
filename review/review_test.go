package review

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseGitConfig(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string // key = value
		bad  bool
	}{
		{"[core]\n\trepositoryformatversion = 0\n\tbare = false\n", []string{"core.repositoryformatversion = 0", "core.bare = false"}, false},
		{"[Core]\nFSMonitor = \"touch x\" ; comment\n", []string{"core.fsmonitor = touch x"}, false},
		{"[remote \"Origin\"]\n\turl = a\\\n b\n", []string{"remote.Origin.url = a b"}, false},
		{"[core] pager = less # c\n", []string{"core.pager = less"}, false},
		{"[includeIf \"gitdir:x\"]\npath = y\n", []string{"includeif.gitdir:x.path = y"}, false},
		{"[alias]\n  st\n", []string{"alias.st = "}, false},
		{"[core.x]\nfoo = 1\n", []string{"core.x.foo = 1"}, false},
		{"\xef\xbb\xbf[core]\nbare = true\n", []string{"core.bare = true"}, false},
		{"fsmonitor = x\n", nil, true},
		{"[core\nfsmonitor = x\n", nil, true},
		{"[core]\nfsmonitor = \"x\n", nil, true},
		{"[core]\n%fsmonitor = x\n", nil, true},
		{"[core]\nfsmonitor = a\\q\n", nil, true},
	} {
		got, err := parseGitConfig([]byte(c.in))
		if (err != nil) != c.bad {
			t.Errorf("%q: error %v, want bad=%v", c.in, err, c.bad)
			continue
		}
		var s []string
		for _, e := range got {
			s = append(s, e.String())
		}
		if !slices.Equal(s, c.want) {
			t.Errorf("%q: got %q, want %q", c.in, s, c.want)
		}
	}
}

// What `git init` writes passes; anything that runs is held.
func TestJudgeGitConfig(t *testing.T) {
	initConfig := "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = true\n"
	clone := initConfig + "[remote \"origin\"]\n\turl = /r.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n[branch \"main\"]\n\tremote = origin\n\tmerge = refs/heads/main\n"
	for _, c := range []struct {
		old, now string
		held     bool
	}{
		{"", initConfig, false},
		{"", clone, false},
		{initConfig, clone, false},
		{"", "[submodule \"s\"]\nurl = x\nactive = true\n[core]\nworktree = ../../s\n", false},
		{"", initConfig + "\tfsmonitor = touch /tmp/x\n", true},
		{initConfig, initConfig + "[core]\nhooksPath = .husky\n", true},
		{initConfig, initConfig + "[include]\npath = ../x\n", true},
		{initConfig, initConfig + "[alias]\nst = !sh\n", true},
		{initConfig, initConfig + "[filter \"x\"]\nclean = sh\n", true},
		{initConfig, initConfig + "[remote \"o\"]\nuploadpack = sh\n", true},
		{initConfig, initConfig + "[submodule \"s\"]\nupdate = !sh\n", true},
		{initConfig, initConfig + "[credential]\nhelper = !sh\n", true},
		{initConfig, initConfig + "[core]\nsshCommand = sh\n", true},
		{initConfig, initConfig + "[diff \"x\"]\ncommand = sh\n", true},
		{initConfig, initConfig + "[core]\nnewkey2030 = x\n", true},
		{initConfig, "[core\n", true},
		// A key the user had at launch is not the session's.
		{initConfig + "[core]\npager = less\n", initConfig + "[core]\npager = less\n[user]\nname = a\n", false},
		{initConfig + "[core]\npager = less\n", initConfig + "[core]\npager = less -R\n", true},
	} {
		var old []byte
		if c.old != "" {
			old = []byte(c.old)
		}
		if runs := judgeGitConfig(old, []byte(c.now)); (len(runs) > 0) != c.held {
			t.Errorf("%q -> %q: runs %q, want held=%v", c.old, c.now, runs, c.held)
		}
	}
}

func TestJudgeClaude(t *testing.T) {
	for _, c := range []struct {
		old, now string
		held     bool
	}{
		{"", `{"permissions":{"allow":["Bash(npm test:*)"]}}`, false},
		{`{"permissions":{"allow":[]}}`, `{"permissions":{"allow":["Bash(ls)"],"deny":["Read(x)"]}}`, false},
		{`{"hooks":{"Stop":[]}}`, `{"hooks":{"Stop":[]},"model":"x"}`, false},
		{"", `{"hooks":{"SessionStart":[{"hooks":[{"type":"command","command":"x"}]}]}}`, true},
		{"", `{"statusLine":{"type":"command","command":"x"}}`, true},
		{"", `{"apiKeyHelper":"x"}`, true},
		{"", `{"awsAuthRefresh":"x"}`, true},
		{"", `{"awsCredentialExport":"x"}`, true},
		{"", `{"otelHeadersHelper":"x"}`, true},
		{"", `{"env":{"NODE_OPTIONS":"--require x"}}`, true},
		{"", `{"enableAllProjectMcpServers":true}`, true},
		{"", `{"enabledMcpjsonServers":["x"]}`, true},
		{"", `{"someFutureKey":1}`, true},
		{"", `{"permissions":{"defaultMode":"bypassPermissions"}}`, true},
		{"", `{"permissions":{"additionalDirectories":["/"]}}`, true},
		{"", `{"permissions":"x"}`, true},
		{"", `not json`, true},
		{`{"hooks":{"Stop":[1]}}`, `{"hooks":{"Stop":[2]}}`, true},
	} {
		var old []byte
		if c.old != "" {
			old = []byte(c.old)
		}
		if runs := judgeClaude(old, []byte(c.now)); (len(runs) > 0) != c.held {
			t.Errorf("%q -> %q: runs %q, want held=%v", c.old, c.now, runs, c.held)
		}
	}
}

func TestJudgeCommondir(t *testing.T) {
	if r := judgeCommondir(".git/worktrees/w/commondir", []byte("../..\n")); r != nil {
		t.Errorf("a linked worktree's commondir held: %q", r)
	}
	if r := judgeCommondir(".git/commondir", []byte(".\n")); r != nil {
		t.Errorf("the placeholder commondir \".\" held: %q", r)
	}
	for rel, c := range map[string]string{".git/worktrees/w/commondir": ".\n", "x/commondir": ".\n../evil\n", ".git/commondir": " .\n"} {
		if r := judgeCommondir(rel, []byte(c)); r == nil {
			t.Errorf("commondir %s = %q passed", rel, c)
		}
	}
	if r := judgeCommondir(".git/commondir", []byte("../evil\n")); r == nil {
		t.Error("a commondir to elsewhere passed")
	}
	if r := judgeCommondir(".git/worktrees/w/commondir", []byte("../../../evil\n")); r == nil {
		t.Error("a worktree's commondir to elsewhere passed")
	}
}

// world is a project with a git directory, a hook of the user's, Claude
// settings, and a store in an instance directory.
type world struct {
	proj  string
	store *Store
}

func newWorld(t *testing.T) world {
	t.Helper()
	w := world{proj: t.TempDir(), store: Open(t.TempDir())}
	w.write(t, ".git/HEAD", "ref: refs/heads/main\n", 0o644)
	w.write(t, ".git/config", "[core]\n\tbare = false\n\tpager = less\n", 0o644)
	w.write(t, ".git/hooks/pre-commit", "#!/bin/sh\necho users-own\n", 0o755)
	w.write(t, ".git/hooks/pre-push.sample", "#!/bin/sh\n", 0o755)
	w.write(t, ".claude/settings.json", `{"hooks":{"Stop":[]}}`, 0o644)
	w.write(t, "old/nested/.git/HEAD", "ref: refs/heads/main\n", 0o644)
	w.write(t, "old/nested/.git/config", "[core]\nfsmonitor = users-own\n", 0o644)
	w.write(t, "fixtures/repo/HEAD", "ref: refs/heads/main\n", 0o644)
	w.write(t, "fixtures/repo/config", "[core]\nfsmonitor = fixture\n", 0o644)
	w.write(t, "fixtures/repo/objects/x", "", 0o644)
	w.write(t, "fixtures/repo/refs/x", "", 0o644)
	return w
}

func (w world) write(t *testing.T, rel, content string, perm os.FileMode) {
	t.Helper()
	p := filepath.Join(w.proj, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
}

func (w world) read(rel string) string {
	b, err := os.ReadFile(filepath.Join(w.proj, rel))
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return string(b)
}

// begin records the baseline as a launch does, with the session
// beginning now: what the world held before is older.
func (w world) begin(t *testing.T, lifted ...string) {
	t.Helper()
	w.beginPinned(t, lifted, nil)
}

func (w world) beginPinned(t *testing.T, lifted, pinned []string) {
	t.Helper()
	if err := w.store.Record(w.proj, lifted, pinned); err != nil {
		t.Fatal(err)
	}
	var b Baseline
	if err := w.store.readJSON(baselineName, &b); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	b.Since = time.Now()
	if err := w.store.writeJSON(baselineName, &b); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
}

func held(res Result) []string {
	var out []string
	for _, h := range res.Held {
		out = append(out, h.Rel)
	}
	slices.Sort(out)
	return out
}

func TestReviewHoldsAndAccepts(t *testing.T) {
	w := newWorld(t)
	w.begin(t)
	// What a session plants...
	w.write(t, ".git/config", "[core]\n\tbare = false\n\tpager = less\n\tfsmonitor = planted\n", 0o644)
	w.write(t, ".git/hooks/post-checkout", "#!/bin/sh\nplanted\n", 0o755)
	w.write(t, ".claude/settings.local.json", `{"statusLine":{"type":"command","command":"planted"}}`, 0o644)
	w.write(t, ".mcp.json", `{"mcpServers":{"x":{"command":"planted"}}}`, 0o644)
	w.write(t, ".vscode/tasks.json", `{"tasks":[{"runOptions":{"runOn":"folderOpen"},"command":"planted"}]}`, 0o644)
	w.write(t, "deep/a/b/sub/.git/HEAD", "ref: refs/heads/main\n", 0o644)
	w.write(t, "deep/a/b/sub/.git/config", "[core]\nfsmonitor = planted\n", 0o644)
	w.write(t, "deep/a/b/sub/.git/hooks/pre-commit", "planted", 0o755)
	w.write(t, "pkg/.git", "gitdir: ../elsewhere\n", 0o644)
	w.write(t, "elsewhere/HEAD", "ref: refs/heads/main\n", 0o644)
	w.write(t, "elsewhere/config", "[core]\nhooksPath = planted\n", 0o644)
	w.write(t, "out/.git", "gitdir: /tmp/rw-mount/evil\n", 0o644)
	if err := os.Symlink("/tmp/evil", filepath.Join(w.proj, "lnk/.claude")); err != nil {
		os.MkdirAll(filepath.Join(w.proj, "lnk"), 0o755)
		if err := os.Symlink("/tmp/evil", filepath.Join(w.proj, "lnk/.claude")); err != nil {
			t.Fatal(err)
		}
	}
	// ... and what is data.
	w.write(t, ".claude/settings.json", `{"hooks":{"Stop":[]},"permissions":{"allow":["Bash(ls)"]}}`, 0o644)
	w.write(t, "new/.git/HEAD", "ref: refs/heads/main\n", 0o644)
	w.write(t, "new/.git/config", "[core]\n\trepositoryformatversion = 0\n\tbare = false\n", 0o644)
	w.write(t, "new/.git/hooks/pre-commit.sample", "#!/bin/sh\n", 0o755)
	w.write(t, "old/nested/file", "x", 0o644) // a sibling of an untouched nested repo

	res, err := w.store.Run()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".claude/settings.local.json", ".git/config", ".git/hooks/post-checkout", ".mcp.json", ".vscode/tasks.json",
		"deep/a/b/sub/.git/config", "deep/a/b/sub/.git/hooks/pre-commit", "elsewhere/config", "lnk/.claude", "out/.git"}
	if got := held(res); !slices.Equal(got, want) {
		t.Errorf("held %q\nwant %q\n%+v", got, want, res)
	}
	if len(res.Incomplete) > 0 {
		t.Errorf("incomplete: %q", res.Incomplete)
	}
	// Back as at launch, or away; the session's version beside.
	if got := w.read(".git/config"); got != "[core]\n\tbare = false\n\tpager = less\n" {
		t.Errorf(".git/config not restored: %q", got)
	}
	if got := w.read(".git/config.claudebox-held"); !strings.Contains(got, "planted") {
		t.Errorf("the session's .git/config is not beside it: %q", got)
	}
	for _, gone := range []string{".git/hooks/post-checkout", ".mcp.json", "deep/a/b/sub/.git/config", "lnk/.claude"} {
		if _, err := os.Lstat(filepath.Join(w.proj, gone)); err == nil {
			t.Errorf("%s is still in place", gone)
		}
	}
	if got := w.read(".git/hooks/pre-commit"); got != "#!/bin/sh\necho users-own\n" {
		t.Errorf("the user's own hook changed: %q", got)
	}
	if got := w.read("old/nested/.git/config"); !strings.Contains(got, "users-own") {
		t.Errorf("an untouched nested repository's config was held: %q", got)
	}
	// A second review has nothing to do; the holds stay listed.
	if res, err := w.store.Run(); err != nil || len(res.Held) > 0 {
		t.Errorf("a second review: %v %+v", err, res)
	}
	hs, err := w.store.Holds()
	if err != nil || len(hs) != len(want) {
		t.Fatalf("holds: %v %d", err, len(hs))
	}
	var show bytes.Buffer
	Show(&show, hs)
	if !strings.Contains(show.String(), "core.fsmonitor = planted") || !strings.Contains(show.String(), `"command":"planted"`) {
		t.Errorf("review does not show what would run:\n%s", show.String())
	}

	// accept puts the session's version in place, with its mode.
	if _, err := w.store.Accept(filepath.Join(w.proj, "deep/a/b/sub/.git/hooks/pre-commit")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(w.proj, "deep/a/b/sub/.git/hooks/pre-commit")); err != nil || fi.Mode().Perm() != 0o755 || w.read("deep/a/b/sub/.git/hooks/pre-commit") != "planted" {
		t.Errorf("accepted hook: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(w.proj, "deep/a/b/sub/.git/hooks/pre-commit.claudebox-held")); err == nil {
		t.Error("the copy beside an accepted file stays")
	}
	// The copy beside is not what accept uses: the instance's is.
	w.write(t, ".git/config.claudebox-held", "[core]\nfsmonitor = changed-later\n", 0o644)
	if _, err := w.store.Accept(filepath.Join(w.proj, ".git/config")); err != nil {
		t.Fatal(err)
	}
	if got := w.read(".git/config"); !strings.Contains(got, "fsmonitor = planted") {
		t.Errorf("accept used the copy beside: %q", got)
	}
	// accept refuses to overwrite what changed since the hold.
	w.write(t, ".mcp.json", `{"mine":1}`, 0o644)
	if _, err := w.store.Accept(filepath.Join(w.proj, ".mcp.json")); err == nil || !strings.Contains(err.Error(), "changed since it was held") {
		t.Errorf("accept over a changed file: %v", err)
	}
	if _, err := w.store.Accept(filepath.Join(w.proj, "nothing")); err != ErrNotHeld {
		t.Errorf("accept of nothing held: %v", err)
	}
	hs, _ = w.store.Holds()
	if len(hs) != len(want)-2 {
		t.Errorf("holds after two accepts: %d", len(hs))
	}
}

// A directory moved in keeps its files' change times: it is new because
// the directory's own changed.
func TestReviewMovedIn(t *testing.T) {
	w := newWorld(t)
	w.begin(t)
	if err := os.Rename(filepath.Join(w.proj, "fixtures/repo"), filepath.Join(w.proj, "fixtures/.git")); err != nil {
		t.Fatal(err)
	}
	res, err := w.store.Run()
	if err != nil {
		t.Fatal(err)
	}
	if got := held(res); !slices.Equal(got, []string{"fixtures/.git/config"}) {
		t.Errorf("held %q", got)
	}
}

// A --rw that lifts a protected path lets its changes pass.
func TestReviewLifted(t *testing.T) {
	w := newWorld(t)
	w.begin(t, filepath.Join(w.proj, ".git/hooks"))
	w.write(t, ".git/hooks/pre-push", "#!/bin/sh\nmine\n", 0o755)
	w.write(t, ".git/config", "[core]\nfsmonitor = x\n", 0o644)
	res, err := w.store.Run()
	if err != nil {
		t.Fatal(err)
	}
	if got := held(res); !slices.Equal(got, []string{".git/config"}) {
		t.Errorf("held %q", got)
	}
}

func TestReviewWalkCap(t *testing.T) {
	w := newWorld(t)
	w.begin(t)
	old := walkLimits
	walkLimits.Dirs = 3
	defer func() { walkLimits = old }()
	// Fails closed: the review stays pending (the next launch refuses).
	res, err := w.store.Run()
	if !errors.Is(err, ErrIncomplete) || !w.store.Pending() {
		t.Fatalf("a capped review ended: err %v, pending %v", err, w.store.Pending())
	}
	if len(res.Incomplete) == 0 || !strings.Contains(res.Incomplete[0], "more than 3 directories") {
		t.Errorf("a capped walk is not said: %q", res.Incomplete)
	}
	var b bytes.Buffer
	Report(&b, res)
	if !strings.Contains(b.String(), "could not look at everything") || !strings.Contains(b.String(), "--incomplete-ok") {
		t.Errorf("report: %s", b.String())
	}
	if _, err := w.store.Run(); !errors.Is(err, ErrIncomplete) {
		t.Errorf("run again, still capped: %v", err)
	}
	// The user acknowledges: the review ends, saying what it missed.
	res, err = w.store.RunAcknowledging()
	if err != nil || w.store.Pending() || len(res.Incomplete) == 0 {
		t.Errorf("acknowledged: err %v, pending %v, incomplete %q", err, w.store.Pending(), res.Incomplete)
	}
	// Or the cap is no longer reached: it ends by itself.
	w.begin(t)
	walkLimits = old
	if _, err := w.store.Run(); err != nil || w.store.Pending() {
		t.Errorf("uncapped: err %v, pending %v", err, w.store.Pending())
	}
}

// A path shown read-only inside, still the same inode at the end, could
// not be changed by the sandbox: a change there is the host's (an editor
// open on the project). Renamed around, it is judged.
func TestReviewPinned(t *testing.T) {
	w := newWorld(t)
	w.write(t, ".vscode/settings.json", `{}`, 0o644)
	w.write(t, ".idea/workspace.xml", `<project/>`, 0o644)
	w.beginPinned(t, nil, []string{filepath.Join(w.proj, ".vscode"), filepath.Join(w.proj, ".idea")})
	w.write(t, ".vscode/settings.json", `{"python.defaultInterpreterPath":"x"}`, 0o644)
	w.write(t, ".idea/workspace.xml", `<project version="4"/>`, 0o644)
	if err := os.Rename(filepath.Join(w.proj, ".idea"), filepath.Join(w.proj, ".idea.old")); err != nil {
		t.Fatal(err)
	}
	w.write(t, ".idea/workspace.xml", `<project><component name="RunManager"/></project>`, 0o644)
	res, err := w.store.Run()
	if err != nil {
		t.Fatal(err)
	}
	if got := held(res); !slices.Equal(got, []string{".idea/workspace.xml"}) {
		t.Errorf("held %q", got)
	}
	if got := w.read(".idea/workspace.xml"); got != `<project/>` {
		t.Errorf(".idea/workspace.xml not restored: %q", got)
	}
}

// Links and .git files lead elsewhere in the project: what they lead to
// is reviewed as what their name says, whether or not they changed.
func TestReviewFollows(t *testing.T) {
	w := newWorld(t)
	w.write(t, "lib/.git", "gitdir: ../gitdirs/lib\n", 0o644)
	w.write(t, "gitdirs/lib/HEAD", "ref: refs/heads/main\n", 0o644)
	w.write(t, "gitdirs/lib/config", "[core]\nbare = false\n", 0o644)
	w.write(t, "cfg/claude/settings.json", `{}`, 0o644)
	w.write(t, "other/.git", "gitdir: ../gitdirs/lib\n", 0o644)
	if err := os.Symlink("cfg/claude", filepath.Join(w.proj, ".claude2")); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(w.proj, ".claude"))
	if err := os.Symlink("cfg/claude", filepath.Join(w.proj, ".claude")); err != nil {
		t.Fatal(err)
	}
	w.begin(t)
	// Unchanged links, changed targets.
	w.write(t, "gitdirs/lib/config", "[core]\nbare = false\nfsmonitor = planted\n", 0o644)
	w.write(t, "cfg/claude/settings.json", `{"hooks":{"SessionStart":[]}}`, 0o644)
	// A .git file re-pointed at a repository that was there, untouched.
	w.write(t, "other/.git", "gitdir: ../fixtures/repo\n", 0o644)
	res, err := w.store.Run()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"cfg/claude/settings.json", "fixtures/repo/config", "gitdirs/lib/config"}
	if got := held(res); !slices.Equal(got, want) {
		t.Errorf("held %q, want %q", got, want)
	}
}

// What a security review planted to reach a host tool past the review:
// each is held (deny by default), the control in the same session too.
func TestReviewRedirections(t *testing.T) {
	w := newWorld(t)
	w.write(t, "src/main.c", "int main;\n", 0o644)
	w.begin(t)
	link := func(target, rel string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(w.proj, rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(w.proj, rel)); err != nil {
			t.Fatal(err)
		}
	}
	// A: a gitfile names a worktrees-like directory whose commondir
	// leads to a directory with the config and no HEAD.
	w.write(t, "a/.git", "gitdir: ../y/worktrees/w\n", 0o644)
	w.write(t, "y/worktrees/w/HEAD", "ref: refs/heads/main\n", 0o644)
	w.write(t, "y/worktrees/w/commondir", "../..\n", 0o644)
	w.write(t, "y/config", "[core]\nfsmonitor = A\n", 0o644)
	w.write(t, "y/refs/heads/main", "", 0o644)
	// H: a gitfile names a link into another .git directory.
	w.write(t, "other/.git/evil/HEAD", "ref: refs/heads/main\n", 0o644)
	w.write(t, "other/.git/evil/config", "[core]\nfsmonitor = H\n", 0o644)
	w.write(t, "h/.git", "gitdir: l\n", 0o644)
	link("../other/.git/evil", "h/l")
	// H2: ".." after a link.
	w.write(t, "h2/.git", "gitdir: l/..\n", 0o644)
	link("../other/.git/evil/refs", "h2/l")
	// M: a second line (git reads it as part of the path).
	w.write(t, "m/x/HEAD", "ref: refs/heads/main\n", 0o644)
	w.write(t, "m/.git", "gitdir: x\ny/.git/evil\n", 0o644)
	// R: a new repository whose hooks is a link to a plain directory.
	w.write(t, "n/.git/HEAD", "ref: refs/heads/main\n", 0o644)
	w.write(t, "tools/githooks/pre-commit", "#!/bin/sh\necho R\n", 0o755)
	link("../../tools/githooks", "n/.git/hooks")
	// B2: an existing directory becomes a git directory by HEAD and a
	// commondir, whose config is in a directory with no HEAD.
	w.write(t, "src/HEAD", "ref: refs/heads/main\n", 0o644)
	w.write(t, "src/commondir", "../.cache/c\n", 0o644)
	w.write(t, ".cache/c/config", "[core]\npager = B2\n", 0o644)
	w.write(t, ".cache/c/refs/heads/main", "", 0o644)
	res, err := w.store.Run()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".cache/c/config", "h/.git", "h2/.git", "m/.git", "n/.git/hooks", "src/commondir", "y/config"}
	if got := held(res); !slices.Equal(got, want) {
		t.Errorf("held %q, want %q", got, want)
	}
	for _, rel := range want {
		if _, err := os.Lstat(filepath.Join(w.proj, rel)); err == nil {
			t.Errorf("%s is still in place", rel)
		}
	}
}

// A file of the surface no launch-time snapshot covers (a nested
// .claude, a nested repository's config), there before the session and
// changed by it in a way that is held, goes back to the content the first
// launch found: the user's version is not lost.
func TestReviewRestoresNested(t *testing.T) {
	w := newWorld(t)
	w.write(t, "sub/.claude/settings.local.json", `{"permissions":{"allow":["Bash(ls)"]}}`, 0o644)
	w.begin(t)
	w.write(t, "sub/.claude/settings.local.json", `{"hooks":{"Stop":[{"command":"sh"}]}}`, 0o644)
	w.write(t, "old/nested/.git/config", "[core]\nfsmonitor = planted\n", 0o644)
	res, err := w.store.Run()
	if err != nil {
		t.Fatal(err)
	}
	if got := held(res); !slices.Equal(got, []string{"old/nested/.git/config", "sub/.claude/settings.local.json"}) {
		t.Errorf("held %q", got)
	}
	if got := w.read("sub/.claude/settings.local.json"); got != `{"permissions":{"allow":["Bash(ls)"]}}` {
		t.Errorf("the user's nested settings are not back: %q", got)
	}
	if got := w.read("old/nested/.git/config"); got != "[core]\nfsmonitor = users-own\n" {
		t.Errorf("the user's nested config is not back: %q", got)
	}
	for _, h := range res.Held {
		if !h.Restored {
			t.Errorf("%s: not said to be restored", h.Rel)
		}
	}
	// accept puts the session's version in place.
	if _, err := w.store.Accept(filepath.Join(w.proj, "sub/.claude/settings.local.json")); err != nil {
		t.Fatal(err)
	}
	if got := w.read("sub/.claude/settings.local.json"); !strings.Contains(got, "hooks") {
		t.Errorf("accepted: %q", got)
	}
}

// known.json is written (and synced) only when a review learns
// something: a session that changed nothing leaves it as it was.
func TestReviewKnownWrittenOnChange(t *testing.T) {
	w := newWorld(t)
	known := filepath.Join(w.store.dir, knownName)
	ino := func() uint64 {
		t.Helper()
		fi, err := os.Stat(known)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	w.begin(t)
	seeded := ino()
	if _, err := w.store.Run(); err != nil {
		t.Fatal(err)
	}
	if ino() != seeded {
		t.Error("a review of a session that changed nothing rewrote known.json")
	}
	w.begin(t)
	w.write(t, ".claude/settings.json", `{"hooks":{"Stop":[]},"permissions":{"allow":["Bash(ls)"]}}`, 0o644)
	if _, err := w.store.Run(); err != nil {
		t.Fatal(err)
	}
	if ino() == seeded {
		t.Error("a review that passed a changed file did not write known.json")
	}
}

// A baseline a crash left empty (before Sync, so before any command
// started) is dropped; one with anything else in it that cannot be read
// still refuses.
func TestReviewBaselineAfterCrash(t *testing.T) {
	w := newWorld(t)
	if err := w.store.Record(w.proj, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.store.Sync(); err != nil {
		t.Fatal(err)
	}
	baseline := filepath.Join(w.store.dir, baselineName)
	if err := os.Truncate(baseline, 0); err != nil {
		t.Fatal(err)
	}
	if res, err := w.store.Run(); err != nil || len(res.Held) > 0 || w.store.Pending() {
		t.Errorf("an empty baseline: %v %+v, pending %v", err, res, w.store.Pending())
	}
	if err := w.store.Record(w.proj, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(baseline, []byte(`{"version":1,"projects":{`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := w.store.Run(); err == nil || !w.store.Pending() {
		t.Errorf("a torn baseline was not refused: %v", err)
	}
}

// known.json is a cache: one that cannot be read is rebuilt by the next
// review, also by one that learns nothing new (else the next launch
// seeds it anew from whatever the project holds then).
func TestReviewRebuildsCorruptKnown(t *testing.T) {
	w := world{proj: t.TempDir(), store: Open(t.TempDir())}
	w.write(t, ".git/HEAD", "ref: refs/heads/main\n", 0o644)
	w.write(t, ".git/config", "[core]\n\tbare = false\n", 0o644)
	w.begin(t)
	known := filepath.Join(w.store.dir, knownName)
	if err := os.WriteFile(known, []byte("{torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	if res, err := w.store.Run(); err != nil || len(res.Held) > 0 {
		t.Fatalf("review: %v %+v", err, res)
	}
	var m map[string]string
	if err := w.store.readJSON(knownName, &m); err != nil {
		t.Errorf("known.json left unreadable by a review: %v", err)
	}
}

// A baseline a crash left empty was never relied on: a launch that finds
// it while another session is live (so it cannot run the review that
// drops it) records its own, rather than failing on the empty file.
func TestRecordOverEmptyBaseline(t *testing.T) {
	w := world{proj: t.TempDir(), store: Open(t.TempDir())}
	w.write(t, ".git/HEAD", "ref: refs/heads/main\n", 0o644)
	if err := os.MkdirAll(w.store.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.store.dir, baselineName), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := w.store.Record(w.proj, nil, nil); err != nil {
		t.Fatalf("Record over an empty baseline: %v", err)
	}
	var b Baseline
	if err := w.store.readJSON(baselineName, &b); err != nil || b.Projects[w.proj] == nil {
		t.Errorf("baseline after Record: %v %+v", err, b)
	}
}
