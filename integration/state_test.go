package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// resetClaudeState removes the test user's Claude state on the host and
// every instance, so each test starts from a known host.
func resetClaudeState(t *testing.T) {
	t.Helper()
	for _, p := range []string{".claude", ".claude.json", ".claudebox"} {
		if err := os.RemoveAll(filepath.Join(testUser.home, p)); err != nil {
			t.Fatal(err)
		}
	}
}

func hostCredsPath() string { return filepath.Join(testUser.home, ".claude/.credentials.json") }

func token(tok string) string {
	return fmt.Sprintf(`{"claudeAiOauth":{"accessToken":"%s","refreshToken":"r"}}`, tok)
}

// hostToken returns the access token in the host credentials file, failing
// the test when the file is not complete JSON.
func hostToken(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(hostCredsPath())
	if err != nil {
		t.Fatalf("host credentials: %v", err)
	}
	var v struct {
		ClaudeAiOauth struct{ AccessToken string } `json:"claudeAiOauth"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("host credentials are not valid JSON: %v: %q", err, b)
	}
	return v.ClaudeAiOauth.AccessToken
}

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// started is a claudebox running in the background.
type started struct {
	cmd   *exec.Cmd
	lines *bufio.Scanner
}

// start runs claudebox and waits until the command inside prints "ready".
func (in invocation) start(t *testing.T, args ...string) *started {
	t.Helper()
	cmd := in.command(args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &started{cmd: cmd, lines: bufio.NewScanner(out)}
	killAtEnd(t, cmd)
	for s.lines.Scan() {
		if s.lines.Text() == "ready" {
			return s
		}
	}
	t.Fatal("the sandbox never printed ready")
	return nil
}

// wait collects the rest of the output and the exit status.
func (s *started) wait() (string, int) {
	var rest []string
	for s.lines.Scan() {
		rest = append(rest, s.lines.Text())
	}
	s.cmd.Wait()
	return strings.Join(rest, "\n"), s.cmd.ProcessState.ExitCode()
}

func TestAuthPassthrough(t *testing.T) {
	needSuite(t)
	resetClaudeState(t)
	proj := newProject(t, testUser)
	in := invocation{as: testUser, dir: proj}
	if err := writeOwned(testUser, hostCredsPath(), token("host-token-1")); err != nil {
		t.Fatal(err)
	}

	t.Run("logged in inside", func(t *testing.T) {
		mustContain(t, in.run(t, "--", "account"), "host-token-1")
	})
	t.Run("refresh in place reaches the host", func(t *testing.T) {
		mustExit(t, in.run(t, "--", "refresh-inplace", "tok-inplace"), 0)
		if got := hostToken(t); got != "tok-inplace" {
			t.Errorf("host token %q", got)
		}
	})
	t.Run("refresh by rename reaches the host", func(t *testing.T) {
		mustExit(t, in.run(t, "--", "refresh-rename", "tok-rename"), 0)
		if got := hostToken(t); got != "tok-rename" {
			t.Errorf("host token %q", got)
		}
	})
	t.Run("refresh reaches the host while the sandbox runs", func(t *testing.T) {
		s := in.start(t, "run", "--", "sh", "-c", `
			printf '{"claudeAiOauth":{"accessToken":"tok-live"}}' > ~/.claude/.credentials.json.tmp
			mv ~/.claude/.credentials.json.tmp ~/.claude/.credentials.json
			echo ready; sleep 1000`)
		eventually(t, "the live refresh on the host", func() bool { return hostToken(t) == "tok-live" })
		s.cmd.Process.Signal(os.Interrupt)
		s.wait()
	})
	t.Run("host refresh is seen by a running sandbox", func(t *testing.T) {
		s := in.start(t, "run", "--", "sh", "-c", `echo ready
			for i in $(seq 400); do
				grep -q host-refreshed ~/.claude/.credentials.json && { echo saw-refresh; exit 0; }
				sleep 0.025
			done; exit 1`)
		tmp := hostCredsPath() + ".tmp"
		if err := writeOwned(testUser, tmp, token("host-refreshed")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, hostCredsPath()); err != nil {
			t.Fatal(err)
		}
		if out, code := s.wait(); code != 0 || !strings.Contains(out, "saw-refresh") {
			t.Errorf("the sandbox did not see the host's refresh: exit %d %q", code, out)
		}
	})
	t.Run("login inside persists to the host", func(t *testing.T) {
		resetClaudeState(t)
		mustContain(t, in.run(t, "--", "account"), "not logged in")
		mustExit(t, in.run(t, "--", "refresh-rename", "fresh-login"), 0)
		if got := hostToken(t); got != "fresh-login" {
			t.Errorf("host token %q", got)
		}
	})
	t.Run("two sandboxes refreshing at once leave valid JSON", func(t *testing.T) {
		other := newProject(t, testUser)
		stop := make(chan struct{})
		var torn []string
		var watch sync.WaitGroup
		watch.Add(1)
		go func() { // read the host file as fast as a client would
			defer watch.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				b, err := os.ReadFile(hostCredsPath())
				if err != nil || !json.Valid(b) || len(b) == 0 {
					torn = append(torn, fmt.Sprintf("%v %q", err, b))
				}
			}
		}()
		var wg sync.WaitGroup
		for i, dir := range []string{proj, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				script := fmt.Sprintf(`for n in $(seq 30); do
					printf '{"claudeAiOauth":{"accessToken":"s%d-%%s"}}' $n > ~/.claude/.credentials.json.t$$
					mv ~/.claude/.credentials.json.t$$ ~/.claude/.credentials.json
					printf '{"claudeAiOauth":{"accessToken":"s%d-inplace-%%s"}}' $n > ~/.claude/.credentials.json
				done`, i, i)
				r := invocation{as: testUser, dir: dir}.run(t, "run", "--", "sh", "-c", script)
				if r.code != 0 {
					t.Errorf("sandbox %d: %s", i, r)
				}
			}()
		}
		wg.Wait()
		close(stop)
		watch.Wait()
		if len(torn) > 0 {
			t.Errorf("the host file was seen torn or missing %d times, e.g. %s", len(torn), torn[0])
		}
		if tok := hostToken(t); !strings.HasPrefix(tok, "s0-") && !strings.HasPrefix(tok, "s1-") {
			t.Errorf("host token %q", tok)
		}
	})
	t.Run("malformed host credentials: the launch still works", func(t *testing.T) {
		if err := writeOwned(testUser, hostCredsPath(), "{not json"); err != nil {
			t.Fatal(err)
		}
		r := invocation{as: testUser, dir: newProject(t, testUser)}.run(t, "--", "account")
		mustExit(t, r, 0)
		mustContain(t, r, "not logged in")
		if b, _ := os.ReadFile(hostCredsPath()); string(b) != "{not json" {
			t.Errorf("malformed host file was changed: %q", b)
		}
	})
}

func TestPerProjectState(t *testing.T) {
	needSuite(t)
	resetClaudeState(t)
	// The host's own Claude state, which no sandbox may read or change.
	hostState := map[string]string{
		".claude/projects/-home-cbtest-elsewhere/s.jsonl": `{"msg":"HOST-TRANSCRIPT"}`,
		".claude/history.jsonl":                           `{"display":"HOST-HISTORY"}`,
		".claude/settings.json":                           `{"theme":"dark-from-host"}`,
	}
	for rel, content := range hostState {
		if err := writeOwned(testUser, filepath.Join(testUser.home, rel), content); err != nil {
			t.Fatal(err)
		}
	}
	a, b := newProject(t, testUser), newProject(t, testUser)
	claudeJSON := fmt.Sprintf(`{"hasCompletedOnboarding":true,"projects":{%q:{"k":"A-ENTRY"},"/home/cbtest/secret-project":{"k":"OTHER-ENTRY"}}}`, a)
	if err := writeOwned(testUser, filepath.Join(testUser.home, ".claude.json"), claudeJSON); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(filepath.Join(testUser.home, ".claude.json"))

	ra := invocation{as: testUser, dir: a}.run(t, "--", "transcript", "A-SECRET")
	mustExit(t, ra, 0)
	rb := invocation{as: testUser, dir: b}.run(t, "--", "transcript", "B-SECRET")
	mustExit(t, rb, 0)
	mustContain(t, rb, "projects: "+strings.ReplaceAll(b, "/", "-")+" \n", "history: {\"display\":\"B-SECRET\"} \n")
	mustNotContain(t, rb, "A-SECRET", "HOST-")

	// A sees its own history only, with the host's settings and its own
	// ~/.claude.json entry but not the other project's.
	r := invocation{as: testUser, dir: a}.run(t, "run", "--", "sh", "-c", `
		cat ~/.claude/history.jsonl ~/.claude/settings.json ~/.claude.json; grep -r SECRET ~/.claude`)
	mustContain(t, r, "A-SECRET", "dark-from-host", "hasCompletedOnboarding", "A-ENTRY")
	mustNotContain(t, r, "B-SECRET", "HOST-", "OTHER-ENTRY")

	after, _ := os.Stat(filepath.Join(testUser.home, ".claude.json"))
	if !after.ModTime().Equal(before.ModTime()) {
		t.Error("the host's ~/.claude.json was touched")
	}
	for rel, content := range hostState {
		if got, _ := os.ReadFile(filepath.Join(testUser.home, rel)); string(got) != content {
			t.Errorf("host %s changed: %q", rel, got)
		}
	}
}

func TestWorktreeAndSymlinkShareInstance(t *testing.T) {
	needSuite(t)
	resetClaudeState(t)
	main := newProject(t, testUser)
	os.RemoveAll(filepath.Join(main, ".git")) // a real repository instead
	wt := main + "-wt"
	t.Cleanup(func() { os.RemoveAll(wt) })
	link := main + "-link"
	t.Cleanup(func() { os.Remove(link) })
	git := invocation{as: testUser, dir: main}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"-c", "user.email=t@e", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "init"},
		{"worktree", "add", "-q", wt},
	} {
		cmd := git.command()
		cmd.Path, _ = exec.LookPath("git")
		cmd.Args = append([]string{"git"}, args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	if err := os.Symlink(main, link); err != nil {
		t.Fatal(err)
	}

	r := invocation{as: testUser, dir: wt}.run(t, "run", "--", "sh", "-c", `echo from-worktree > ~/.claude/marker; git status --short --branch`)
	mustExit(t, r, 0)
	mustContain(t, r, "## ") // git works in the worktree inside the sandbox
	for _, dir := range []string{main, link} {
		r := invocation{as: testUser, dir: dir}.run(t, "run", "--", "cat", filepath.Join(testUser.home, ".claude/marker"))
		mustContain(t, r, "from-worktree")
	}
	entries, _ := os.ReadDir(filepath.Join(testUser.home, ".claudebox/instances"))
	if len(entries) != 1 {
		t.Errorf("want one instance for a repository, its worktree and a symlink to it, got %d", len(entries))
	}
}

func TestParallelLaunches(t *testing.T) {
	needSuite(t)
	resetClaudeState(t)
	proj := newProject(t, testUser)
	var wg sync.WaitGroup
	results := make([]result, 16)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = invocation{as: testUser, dir: proj}.run(t, "run", "--", "sh", "-c",
				fmt.Sprintf(`echo launch-%d >> ~/.claude/parallel.log`, i))
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("launch %d failed:\n%s", i, r)
		}
	}
	instances, _ := os.ReadDir(filepath.Join(testUser.home, ".claudebox/instances"))
	if len(instances) != 1 {
		t.Fatalf("want one instance, got %v", instances)
	}
	dir := filepath.Join(testUser.home, ".claudebox/instances", instances[0].Name())
	log, _ := os.ReadFile(filepath.Join(dir, "home/.claude/parallel.log"))
	if n := strings.Count(string(log), "launch-"); n != 16 {
		t.Errorf("want 16 lines in the shared state, got %d:\n%s", n, log)
	}
	var meta struct {
		Version int
		Project string
	}
	b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil || json.Unmarshal(b, &meta) != nil || meta.Version != 1 || meta.Project != proj {
		t.Errorf("meta.json after 16 parallel launches: %q %v", b, err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "*tmp*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
	assertNothingLeft(t, testUser)
}

func TestGC(t *testing.T) {
	needSuite(t)
	resetClaudeState(t)
	in := func(dir string) invocation { return invocation{as: testUser, dir: dir} }
	gone, live, kept, corrupt := newProject(t, testUser), newProject(t, testUser), newProject(t, testUser), newProject(t, testUser)
	for _, p := range []string{gone, kept, corrupt} {
		mustExit(t, in(p).run(t, "run", "--", "true"), 0)
	}
	s := in(live).start(t, "run", "--", "sh", "-c", "echo ready; sleep 1000")
	instances := filepath.Join(testUser.home, ".claudebox/instances")
	idOf := func(project string) string {
		entries, _ := os.ReadDir(instances)
		for _, e := range entries {
			if b, _ := os.ReadFile(filepath.Join(instances, e.Name(), "meta.json")); strings.Contains(string(b), `"`+project+`"`) {
				return e.Name()
			}
		}
		t.Fatalf("no instance for %s", project)
		return ""
	}
	goneID, liveID, keptID, corruptID := idOf(gone), idOf(live), idOf(kept), idOf(corrupt)
	os.WriteFile(filepath.Join(instances, corruptID, "meta.json"), []byte("{torn"), 0o600)
	os.RemoveAll(gone)
	os.RemoveAll(live)
	os.RemoveAll(corrupt)

	r := in(kept).run(t, "ls")
	mustExit(t, r, 0)
	mustContain(t, r, "PROJECT", keptID, "idle", liveID, "live", goneID, "project missing", corruptID, "broken")

	r = in(kept).run(t, "gc", "--dry-run")
	mustExit(t, r, 0)
	mustContain(t, r, "would remove "+goneID, "kept "+corruptID, "--force removes it")
	mustNotContain(t, r, "would remove "+liveID, "would remove "+keptID)
	for _, id := range []string{goneID, liveID, keptID, corruptID} {
		if _, err := os.Stat(filepath.Join(instances, id)); err != nil {
			t.Errorf("gc --dry-run removed %s", id)
		}
	}

	r = in(kept).run(t, "--gc")
	mustExit(t, r, 0)
	mustContain(t, r, "removed "+goneID, "freed", "kept "+corruptID)
	exists := func(id string) bool { _, err := os.Stat(filepath.Join(instances, id)); return err == nil }
	if exists(goneID) || !exists(liveID) || !exists(keptID) || !exists(corruptID) {
		t.Errorf("after gc: gone %v (want false), live %v, kept %v, corrupt %v (want true)",
			exists(goneID), exists(liveID), exists(keptID), exists(corruptID))
	}

	s.cmd.Process.Signal(os.Interrupt)
	s.wait()
	r = in(kept).run(t, "gc", "--force")
	mustExit(t, r, 0)
	mustContain(t, r, "removed "+liveID, "removed "+corruptID)
	if exists(liveID) || exists(corruptID) || !exists(keptID) {
		t.Errorf("after gc --force: live %v, corrupt %v (want false), kept %v (want true)", exists(liveID), exists(corruptID), exists(keptID))
	}
}

func TestInstanceBadState(t *testing.T) {
	needSuite(t)
	resetClaudeState(t)
	proj := newProject(t, testUser)
	in := invocation{as: testUser, dir: proj}
	mustExit(t, in.run(t, "run", "--", "true"), 0)
	entries, _ := os.ReadDir(filepath.Join(testUser.home, ".claudebox/instances"))
	dir := filepath.Join(testUser.home, ".claudebox/instances", entries[0].Name())
	meta := filepath.Join(dir, "meta.json")
	good, _ := os.ReadFile(meta)

	t.Run("not writable", func(t *testing.T) {
		os.Chmod(dir, 0o500)
		defer os.Chmod(dir, 0o700)
		r := in.run(t, "run", "--", "true")
		mustExit(t, r, 125)
		mustContain(t, r, dir, "permission denied", "chmod u+rwx")
		assertNothingLeft(t, testUser)
	})
	t.Run("from a newer claudebox", func(t *testing.T) {
		future := strings.Replace(string(good), `"version": 1`, `"version": 99`, 1)
		os.WriteFile(meta, []byte(future), 0o600)
		defer os.WriteFile(meta, good, 0o600)
		r := in.run(t, "run", "--", "true")
		mustExit(t, r, 125)
		mustContain(t, r, "newer claudebox", "version 99", "upgrade claudebox")
		if b, _ := os.ReadFile(meta); string(b) != future {
			t.Error("a future meta.json was rewritten")
		}
		mustContain(t, in.run(t, "gc", "--force"), "kept "+entries[0].Name())
	})
	t.Run("corrupt", func(t *testing.T) {
		os.WriteFile(meta, []byte("{torn"), 0o600)
		defer os.WriteFile(meta, good, 0o600)
		r := in.run(t, "run", "--", "true")
		mustExit(t, r, 125)
		mustContain(t, r, "corrupt", meta)
	})
}
